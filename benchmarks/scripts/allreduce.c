/* MPI_Allreduce (in place, float, sum) from C, the reference for Kiln's communicator:
 *   mpicc -O2 -o allreduce allreduce.c && mpirun -np 2 ./allreduce */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    for (long bytes = 1024; bytes <= 64L << 20; bytes *= 4) {
        int count = (int) (bytes / 4);
        float *data = malloc(bytes);
        for (int i = 0; i < count; i++) data[i] = 1.0f;
        int repeats = bytes <= (64 << 10) ? 2000 : bytes <= (1 << 20) ? 200 : 20;
        for (int i = 0; i < 3; i++) MPI_Allreduce(MPI_IN_PLACE, data, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        double seconds = 1e30; /* the best of 5 blocks, as the Java side */
        for (int block = 0; block < 5; block++) {
            MPI_Barrier(MPI_COMM_WORLD);
            double start = MPI_Wtime();
            for (int i = 0; i < repeats; i++) MPI_Allreduce(MPI_IN_PLACE, data, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            double t = (MPI_Wtime() - start) / repeats;
            if (t < seconds) seconds = t;
        }
        if (rank == 0) printf("c     %10ld bytes %10.1f us %8.3f GB/s\n", bytes, seconds * 1e6, bytes / seconds / 1e9);
        free(data);
    }
    MPI_Finalize();
    return 0;
}
