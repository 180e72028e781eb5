package dev.kiln.api.tensor;

import dev.kiln.api.KilnException;
import dev.kiln.api.backend.Backend;
import dev.kiln.api.backend.BinaryOp;
import dev.kiln.api.backend.DType;
import dev.kiln.api.backend.Distribution;
import dev.kiln.api.backend.MatmulShape;
import dev.kiln.api.backend.ReduceOp;
import dev.kiln.api.backend.Storage;
import dev.kiln.api.backend.UnaryOp;
import dev.kiln.api.ops.Attention;
import dev.kiln.api.ops.AttentionShape;
import dev.kiln.api.ops.CrossEntropy;
import dev.kiln.api.ops.Gelu;
import dev.kiln.api.ops.GeluErf;
import dev.kiln.api.ops.LayerNorm;
import dev.kiln.api.ops.LogSoftmax;
import dev.kiln.api.ops.LstmCell;
import dev.kiln.api.ops.RmsNorm;
import dev.kiln.api.ops.Softmax;
import java.util.Arrays;
import java.util.List;

/**
 * An n-dimensional array on a {@link Backend}, with reverse-mode autograd. Operations carry PyTorch's names and
 * semantics (broadcasting included); each one checks shapes and dtypes here, in the api, so every backend fails the
 * same way, then records its backward rule right next to its forward computation.
 *
 * <p>Storage is dense and row-major. The one exception is {@link #mT()}: it returns a view whose storage holds the
 * last two dimensions swapped, so that {@code x.matmul(w.mT())} reaches the backend as a transpose flag instead of a
 * copy; every other operation reads such a view through {@link #contiguous()}.
 */
public final class Tensor {
    private final Backend backend;
    private final Storage storage;
    private final int[] shape;
    /** True when the storage holds this tensor with its last two dimensions swapped (a lazy {@link #mT()}). */
    private final boolean transposedView;
    /** The scope that owns this tensor's storage (null: none); a leaf's gradient is allocated there too. */
    private final MemoryScope owner;

    private boolean requiresGrad;
    private Tensor grad;
    Node gradFn;

    /** One recorded operation: its name, its inputs, and how to turn the output's gradient into theirs. */
    record Node(String op, Tensor[] inputs, Backward backward, RegionBackward region) {
        Node(String op, Tensor[] inputs, Backward backward) {
            this(op, inputs, backward, null);
        }
    }

    /** The backward rule of one operation; returns one gradient per input (null where none is needed). */
    @FunctionalInterface
    interface Backward {
        Tensor[] apply(Tensor gradOutput);
    }

    /**
     * The backward rule of an operation whose output is a region of its one input (slice, select): adds the output's
     * gradient into the input's gradient buffer, which autograd allocates once however many regions feed it.
     */
    @FunctionalInterface
    interface RegionBackward {
        void addInto(Tensor gradOutput, Tensor inputGradient);
    }

    /** The shared backward rule of a two-output operation, given both outputs' gradients. */
    @FunctionalInterface
    private interface PairBackward {
        Tensor[] apply(Tensor gradFirst, Tensor gradSecond);
    }

    private Tensor(Backend backend, Storage storage, int[] shape, boolean transposedView, MemoryScope owner) {
        this.backend = backend;
        this.storage = storage;
        this.shape = shape;
        this.transposedView = transposedView;
        this.owner = owner;
    }

    /** Wraps a freshly made storage, registering it with the current {@link MemoryScope}. */
    static Tensor adopt(Backend backend, Storage storage, int[] shape) {
        MemoryScope scope = MemoryScope.current();
        if (scope != null) {
            scope.register(storage);
        }
        return new Tensor(backend, storage, shape, false, scope);
    }

    // ================================================================ creation

    public static Tensor zeros(Backend backend, int... shape) {
        return adopt(backend, backend.allocate(DType.FLOAT32, Shapes.numel(shape)), shape.clone());
    }

    public static Tensor ones(Backend backend, int... shape) {
        return full(backend, 1f, shape);
    }

    public static Tensor full(Backend backend, float value, int... shape) {
        Tensor t = zeros(backend, shape);
        if (value != 0f) {
            backend.fill(t.storage, value);
        }
        return t;
    }

    /**
     * Zeros of this tensor's shape, owned by the scope that owns this tensor rather than the current one: for state that
     * must live as long as this tensor whatever scope is open when it is made, such as a parameter's optimizer moments.
     */
    public Tensor zerosInOwnerScope() {
        Storage zeros = backend.allocate(DType.FLOAT32, numel());
        if (owner != null) {
            owner.register(zeros);
        }
        return new Tensor(backend, zeros, shape.clone(), false, owner);
    }

    /** A float32 tensor holding a copy of {@code data}, which must have exactly numel(shape) elements. */
    public static Tensor of(Backend backend, float[] data, int... shape) {
        checkLength("Tensor.of", data.length, shape);
        return adopt(backend, backend.upload(data), shape.clone());
    }

    /** An int32 tensor (token ids, targets). */
    public static Tensor ofInts(Backend backend, int[] data, int... shape) {
        checkLength("Tensor.ofInts", data.length, shape);
        return adopt(backend, backend.upload(data), shape.clone());
    }

    /** A 0-dimensional tensor (shape []), which broadcasts against anything. */
    public static Tensor scalar(Backend backend, float value) {
        return of(backend, new float[] {value});
    }

    /** Standard normal samples (mean 0, std 1). */
    public static Tensor randn(Backend backend, Generator generator, int... shape) {
        return random(backend, Distribution.NORMAL, 0f, 1f, generator, shape);
    }

    /** Uniform samples on [low, high). */
    public static Tensor uniform(Backend backend, float low, float high, Generator generator, int... shape) {
        return random(backend, Distribution.UNIFORM, low, high, generator, shape);
    }

    private static Tensor random(Backend backend, Distribution d, float a, float b, Generator generator, int[] shape) {
        Tensor t = zeros(backend, shape);
        backend.randomFill(t.storage, d, a, b, generator.nextSeed());
        return t;
    }

    private static void checkLength(String op, int length, int[] shape) {
        if (length != Shapes.numel(shape)) {
            throw new KilnException(op + ": " + length + " values do not fill shape " + Shapes.str(shape));
        }
    }

    /** Wraps a storage the caller made on this backend (registering it with the current scope) as a tensor. */
    public static Tensor fromStorage(Backend backend, Storage storage, int... shape) {
        if (storage.backend() != backend || storage.size() != Shapes.numel(shape)) {
            throw new KilnException("fromStorage: a storage of " + storage.size() + " elements on " + storage.backend().id()
                    + " cannot be a tensor of shape " + Shapes.str(shape) + " on " + backend.id());
        }
        return adopt(backend, storage, shape.clone());
    }

    /**
     * A differentiable operation defined outside this class (PyTorch's {@code autograd.Function}): the caller computed
     * {@code output} from {@code inputs}, and {@code backward} maps the output's gradient to one gradient per input
     * (null where an input needs none). Plugins use it for fused layers with a backward pass of their own.
     */
    public static Tensor fromFunction(String name, Backend backend, Storage output, int[] shape,
                                      java.util.function.Function<Tensor, Tensor[]> backward, Tensor... inputs) {
        Tensor t = fromStorage(backend, output, shape);
        if (t.recording(inputs)) {
            t.gradFn = new Node(name, inputs.clone(), backward::apply);
        }
        return t;
    }

    // ================================================================ inspection

    public int[] shape() {
        return shape.clone();
    }

    public int dim() {
        return shape.length;
    }

    /** The size of one dimension; negative counts from the end. */
    public int size(int dim) {
        return shape[Shapes.dim("size", shape, dim)];
    }

    public int numel() {
        return Shapes.numel(shape);
    }

    public DType dtype() {
        return storage.dtype();
    }

    public Backend backend() {
        return backend;
    }

    /** The dense storage of this tensor (a copy if it is a transposed view). For backends and optimizers. */
    public Storage storage() {
        return contiguous().storage;
    }

    public float[] toFloatArray() {
        requireFloat("toFloatArray");
        float[] out = new float[numel()];
        backend.download(storage(), out);
        return out;
    }

    public int[] toIntArray() {
        if (dtype() != DType.INT32) {
            throw new KilnException("toIntArray: tensor of shape " + Shapes.str(shape) + " is " + dtype() + ", not INT32");
        }
        int[] out = new int[numel()];
        backend.download(storage, out);
        return out;
    }

    /** The value of a one-element tensor. */
    public float item() {
        if (numel() != 1) {
            throw new KilnException("item: tensor of shape " + Shapes.str(shape) + " has " + numel() + " elements, not 1");
        }
        return toFloatArray()[0];
    }

    @Override
    public String toString() {
        return "Tensor" + Shapes.str(shape) + "(" + dtype() + ", " + backend.id()
                + (gradFn != null ? ", grad_fn=" + gradFn.op() : requiresGrad ? ", requires_grad" : "") + ")";
    }

    // ================================================================ autograd

    public boolean requiresGrad() {
        return requiresGrad || gradFn != null;
    }

    /** Marks a leaf tensor as one whose gradient {@link #backward()} should accumulate. */
    public Tensor requiresGrad(boolean value) {
        if (gradFn != null) {
            throw new KilnException("requiresGrad: only leaf tensors can be marked; this one was made by " + gradFn.op());
        }
        requireFloat("requiresGrad");
        this.requiresGrad = value;
        return this;
    }

    public boolean isLeaf() {
        return gradFn == null;
    }

    /** The accumulated gradient of a leaf, or null before the first backward pass (and after {@link #zeroGrad()}). */
    public Tensor grad() {
        return grad;
    }

    /** Drops the gradient (PyTorch's {@code set_to_none}), releasing its storage. */
    public void zeroGrad() {
        if (grad != null) {
            backend.release(grad.storage);
            grad = null;
        }
    }

    /** Sets the gradient directly (optimizer tests, gradient loading). Same shape as this tensor. */
    public void setGrad(Tensor gradient) {
        if (!Arrays.equals(gradient.shape, shape)) {
            throw new KilnException("setGrad: gradient shape " + Shapes.str(gradient.shape) + " differs from tensor shape "
                    + Shapes.str(shape));
        }
        zeroGrad();
        accumulateGrad(gradient);
    }

    /** A tensor sharing this one's storage with no autograd history. */
    public Tensor detach() {
        return new Tensor(backend, storage, shape, transposedView, owner);
    }

    /** Back-propagates from this scalar, accumulating into the {@link #grad()} of every leaf that requires it. */
    public void backward() {
        if (numel() != 1) {
            throw new KilnException("backward: needs a scalar (one-element) tensor, got shape " + Shapes.str(shape)
                    + "; pass a gradient with backward(gradient)");
        }
        backward(ones(backend, shape));
    }

    /**
     * Back-propagates from this scalar and tells {@code gradientReady} about each leaf the moment its gradient is
     * complete, in the order the pass finishes them (last layers first): where data-parallel training starts averaging
     * gradients while the rest of the pass runs.
     */
    public void backward(java.util.function.Consumer<Tensor> gradientReady) {
        if (numel() != 1) {
            throw new KilnException("backward: needs a scalar (one-element) tensor, got shape " + Shapes.str(shape));
        }
        if (!requiresGrad()) {
            throw new KilnException("backward: tensor " + this + " does not require grad and has no grad_fn");
        }
        Autograd.backward(this, ones(backend, shape), gradientReady);
    }

    public void backward(Tensor gradient) {
        if (!Arrays.equals(gradient.shape, shape)) {
            throw new KilnException("backward: gradient shape " + Shapes.str(gradient.shape) + " differs from tensor shape "
                    + Shapes.str(shape));
        }
        if (!requiresGrad()) {
            throw new KilnException("backward: tensor " + this + " does not require grad and has no grad_fn");
        }
        Autograd.backward(this, gradient, null);
    }

    /** Adds g to this leaf's gradient, allocating it in the leaf's own scope the first time. */
    void accumulateGrad(Tensor g) {
        Storage source = g.storage();
        if (grad == null) {
            Storage copy = backend.allocateUninitialized(DType.FLOAT32, numel());
            if (owner != null) {
                owner.register(copy);
            }
            backend.copyStrided(source, 0, new int[] {numel()}, new int[] {1}, copy, 0, new int[] {1});
            grad = new Tensor(backend, copy, shape, false, owner);
        } else {
            int[] dense = {1};
            backend.binary(BinaryOp.ADD, grad.storage, dense, source, dense, grad.storage, new int[] {numel()});
        }
    }

    private boolean recording(Tensor... inputs) {
        if (!GradMode.isEnabled()) {
            return false;
        }
        for (Tensor input : inputs) {
            if (input.requiresGrad()) {
                return true;
            }
        }
        return false;
    }

    /** Wraps a forward result and, if any input needs a gradient, records how to compute theirs. */
    private Tensor result(Storage out, int[] outShape, String op, Backward backward, Tensor... inputs) {
        Tensor t = adopt(backend, out, outShape);
        if (recording(inputs)) {
            t.gradFn = new Node(op, inputs, backward);
        }
        return t;
    }

    /** Storage for an output that the operation writes in full: unspecified contents, so no zero fill. */
    private Storage newFloats(int n) {
        return backend.allocateUninitialized(DType.FLOAT32, n);
    }

    // ================================================================ checks

    private void requireFloat(String op) {
        if (storage.dtype() != DType.FLOAT32) {
            throw new KilnException(op + ": expects a FLOAT32 tensor, got " + storage.dtype() + " of shape "
                    + Shapes.str(shape));
        }
    }

    private void requireSameBackend(String op, Tensor other) {
        if (other.backend != backend) {
            throw new KilnException(op + ": tensors live on different backends (" + backend.id() + " and "
                    + other.backend.id() + "), shapes " + Shapes.str(shape) + " and " + Shapes.str(other.shape));
        }
    }

    private void requireBinaryOperands(String op, Tensor other) {
        requireSameBackend(op, other);
        if (dtype() != DType.FLOAT32 || other.dtype() != DType.FLOAT32) {
            throw new KilnException(op + ": expects FLOAT32 operands, got " + dtype() + " " + Shapes.str(shape) + " and "
                    + other.dtype() + " " + Shapes.str(other.shape));
        }
    }

    // ================================================================ views and layout

    /** This tensor with dense row-major storage: itself, or a copy of a transposed view. */
    public Tensor contiguous() {
        if (!transposedView) {
            return this;
        }
        int r = shape.length;
        int[] storedShape = Shapes.swapLastTwo(shape);
        int[] strides = Shapes.contiguousStrides(storedShape);
        int[] readStrides = strides.clone();
        readStrides[r - 1] = strides[r - 2];
        readStrides[r - 2] = strides[r - 1];
        Storage out = backend.allocateUninitialized(storage.dtype(), numel());
        backend.copyStrided(storage, 0, shape, readStrides, out, 0, Shapes.contiguousStrides(shape));
        return result(out, shape, "contiguous", g -> new Tensor[] {g}, this);
    }

    /** The transpose of the last two dimensions, as a view (PyTorch's {@code .mT}); free, and a flag to matmul. */
    public Tensor mT() {
        if (shape.length < 2) {
            throw new KilnException("mT: needs at least 2 dimensions, got shape " + Shapes.str(shape));
        }
        Tensor view = new Tensor(backend, storage, Shapes.swapLastTwo(shape), !transposedView, owner);
        if (recording(this)) {
            view.gradFn = new Node("mT", new Tensor[] {this}, g -> new Tensor[] {g.mT()});
        }
        return view;
    }

    /** Same data, new shape; one dimension may be -1. Shares storage when dense. */
    public Tensor reshape(int... newShape) {
        int[] resolved = resolveReshape(newShape);
        Tensor source = contiguous();
        Tensor view = new Tensor(backend, source.storage, resolved, false, source.owner);
        if (source.recording(source)) {
            int[] original = shape.clone();
            view.gradFn = new Node("reshape", new Tensor[] {source}, g -> new Tensor[] {g.reshape(original)});
        }
        return view;
    }

    /** PyTorch's {@code view}: here the same as {@link #reshape}. */
    public Tensor view(int... newShape) {
        return reshape(newShape);
    }

    private int[] resolveReshape(int[] newShape) {
        int[] resolved = newShape.clone();
        int inferred = -1;
        long known = 1;
        for (int i = 0; i < resolved.length; i++) {
            if (resolved[i] == -1) {
                if (inferred >= 0) {
                    throw new KilnException("reshape: only one dimension can be -1, got " + Shapes.str(newShape));
                }
                inferred = i;
            } else if (resolved[i] < 0) {
                throw new KilnException("reshape: negative dimension in " + Shapes.str(newShape));
            } else {
                known *= resolved[i];
            }
        }
        int n = numel();
        if (inferred >= 0) {
            if (known == 0 || n % known != 0) {
                throw new KilnException("reshape: shape " + Shapes.str(shape) + " cannot be viewed as " + Shapes.str(newShape));
            }
            resolved[inferred] = (int) (n / known);
        } else if (known != n) {
            throw new KilnException("reshape: shape " + Shapes.str(shape) + " (" + n + " elements) cannot be viewed as "
                    + Shapes.str(newShape));
        }
        return resolved;
    }

    public Tensor unsqueeze(int dim) {
        int d = dim < 0 ? dim + shape.length + 1 : dim;
        if (d < 0 || d > shape.length) {
            throw new KilnException("unsqueeze: dimension " + dim + " is out of range for shape " + Shapes.str(shape));
        }
        int[] out = new int[shape.length + 1];
        for (int i = 0, j = 0; i < out.length; i++) {
            out[i] = i == d ? 1 : shape[j++];
        }
        return reshape(out);
    }

    /** Reorders the dimensions; {@code dims} is a permutation of 0..dim()-1. */
    public Tensor permute(int... dims) {
        if (dims.length != shape.length) {
            throw new KilnException("permute: " + dims.length + " dimensions given for shape " + Shapes.str(shape));
        }
        int[] resolved = new int[dims.length];
        boolean[] seen = new boolean[dims.length];
        for (int i = 0; i < dims.length; i++) {
            resolved[i] = Shapes.dim("permute", shape, dims[i]);
            if (seen[resolved[i]]) {
                throw new KilnException("permute: " + Arrays.toString(dims) + " repeats a dimension (shape "
                        + Shapes.str(shape) + ")");
            }
            seen[resolved[i]] = true;
        }
        Tensor source = contiguous();
        int[] sourceStrides = Shapes.contiguousStrides(shape);
        int[] outShape = new int[dims.length];
        int[] readStrides = new int[dims.length];
        int[] inverse = new int[dims.length];
        for (int i = 0; i < dims.length; i++) {
            outShape[i] = shape[resolved[i]];
            readStrides[i] = sourceStrides[resolved[i]];
            inverse[resolved[i]] = i;
        }
        Storage out = backend.allocateUninitialized(storage.dtype(), numel());
        backend.copyStrided(source.storage, 0, outShape, readStrides, out, 0, Shapes.contiguousStrides(outShape));
        return result(out, outShape, "permute", g -> new Tensor[] {g.permute(inverse)}, source);
    }

    /** Swaps two dimensions: a free view for the last two, a copy otherwise. */
    public Tensor transpose(int dim0, int dim1) {
        int a = Shapes.dim("transpose", shape, dim0);
        int b = Shapes.dim("transpose", shape, dim1);
        if (a == b) {
            return this;
        }
        int r = shape.length;
        if (Math.min(a, b) == r - 2 && Math.max(a, b) == r - 1) {
            return mT();
        }
        int[] dims = new int[r];
        for (int i = 0; i < r; i++) {
            dims[i] = i;
        }
        dims[a] = b;
        dims[b] = a;
        return permute(dims);
    }

    /** Elements {@code start <= i < end} along {@code dim} (Python's {@code x[..., start:end, ...]}). */
    public Tensor slice(int dim, int start, int end) {
        int d = Shapes.dim("slice", shape, dim);
        if (start < 0 || end > shape[d] || start >= end) {
            throw new KilnException("slice: range [" + start + ", " + end + ") is empty or outside dimension " + dim
                    + " of shape " + Shapes.str(shape));
        }
        Tensor source = contiguous();
        int[] outShape = shape.clone();
        outShape[d] = end - start;
        int[] strides = Shapes.contiguousStrides(shape);
        Storage out = backend.allocateUninitialized(storage.dtype(), Shapes.numel(outShape));
        backend.copyStrided(source.storage, start * strides[d], outShape, strides, out, 0, Shapes.contiguousStrides(outShape));
        Tensor t = adopt(backend, out, outShape);
        if (recording(source)) {
            int regionOffset = start * strides[d];
            int[] dense = Shapes.contiguousStrides(outShape);
            int n = Shapes.numel(outShape);
            t.gradFn = new Node("slice", new Tensor[] {source}, null, (g, whole) -> {
                // whole[region] += g: the region read out densely, added to, and written back (O(region) work)
                Storage region = backend.allocateUninitialized(DType.FLOAT32, n);
                try {
                    backend.copyStrided(whole.storage, regionOffset, outShape, strides, region, 0, dense);
                    backend.binary(BinaryOp.ADD, region, new int[] {1}, g.storage(), new int[] {1}, region,
                            new int[] {n});
                    backend.copyStrided(region, 0, outShape, dense, whole.storage, regionOffset, strides);
                } finally {
                    backend.release(region);
                }
            });
        }
        return t;
    }

    /** The slice at {@code index} along {@code dim}, with that dimension removed (Python's {@code x[:, index]}). */
    public Tensor select(int dim, int index) {
        int d = Shapes.dim("select", shape, dim);
        int i = index < 0 ? index + shape[d] : index;
        if (i < 0 || i >= shape[d]) {
            throw new KilnException("select: index " + index + " is outside dimension " + dim + " of shape "
                    + Shapes.str(shape));
        }
        return slice(d, i, i + 1).reshape(Shapes.without(shape, d, false));
    }

    /** Pieces of {@code size} along {@code dim}, the last one shorter if the size does not divide (torch.split). */
    public List<Tensor> split(int size, int dim) {
        int d = Shapes.dim("split", shape, dim);
        if (size <= 0) {
            throw new KilnException("split: piece size must be positive, got " + size + " for shape " + Shapes.str(shape));
        }
        List<Tensor> pieces = new java.util.ArrayList<>();
        for (int start = 0; start < shape[d]; start += size) {
            pieces.add(slice(d, start, Math.min(shape[d], start + size)));
        }
        return pieces;
    }

    /** Pieces of the given sizes along {@code dim}, which must add up to its length (torch.split with a list). */
    public List<Tensor> split(int[] sizes, int dim) {
        int d = Shapes.dim("split", shape, dim);
        long total = 0;
        for (int size : sizes) {
            if (size <= 0) {
                throw new KilnException("split: sizes " + Arrays.toString(sizes) + " must be positive (shape "
                        + Shapes.str(shape) + ")");
            }
            total += size;
        }
        if (total != shape[d]) {
            throw new KilnException("split: sizes " + Arrays.toString(sizes) + " add up to " + total + ", not dimension "
                    + dim + " of shape " + Shapes.str(shape));
        }
        List<Tensor> pieces = new java.util.ArrayList<>();
        int start = 0;
        for (int size : sizes) {
            pieces.add(slice(d, start, start + size));
            start += size;
        }
        return pieces;
    }

    /** Joins equally shaped tensors along a new dimension {@code dim} (torch.stack). */
    public static Tensor stack(List<Tensor> tensors, int dim) {
        if (tensors.isEmpty()) {
            throw new KilnException("stack: needs at least one tensor");
        }
        int[] first = tensors.getFirst().shape;
        int d = dim < 0 ? dim + first.length + 1 : dim;
        if (d < 0 || d > first.length) {
            throw new KilnException("stack: dimension " + dim + " is out of range for shape " + Shapes.str(first));
        }
        List<Tensor> expanded = new java.util.ArrayList<>(tensors.size());
        for (Tensor t : tensors) {
            if (!Arrays.equals(t.shape, first)) {
                throw new KilnException("stack: shapes " + Shapes.str(first) + " and " + Shapes.str(t.shape) + " differ");
            }
            expanded.add(t.unsqueeze(d));
        }
        return concat(expanded, d);
    }

    /** Joins tensors along {@code dim}; all other dimensions must agree. */
    public static Tensor concat(List<Tensor> tensors, int dim) {
        if (tensors.isEmpty()) {
            throw new KilnException("concat: needs at least one tensor");
        }
        Tensor first = tensors.getFirst();
        int d = Shapes.dim("concat", first.shape, dim);
        int[] outShape = first.shape.clone();
        outShape[d] = 0;
        for (Tensor t : tensors) {
            first.requireSameBackend("concat", t);
            boolean compatible = t.shape.length == first.shape.length && t.dtype() == first.dtype();
            for (int i = 0; compatible && i < t.shape.length; i++) {
                compatible = i == d || t.shape[i] == first.shape[i];
            }
            if (!compatible) {
                throw new KilnException("concat: shapes " + Shapes.str(first.shape) + " and " + Shapes.str(t.shape)
                        + " differ outside dimension " + dim);
            }
            outShape[d] += t.shape[d];
        }
        Backend backend = first.backend;
        int[] outStrides = Shapes.contiguousStrides(outShape);
        Storage out = backend.allocateUninitialized(first.dtype(), Shapes.numel(outShape));
        Tensor[] inputs = new Tensor[tensors.size()];
        int[] offsets = new int[tensors.size()];
        int offset = 0;
        for (int i = 0; i < inputs.length; i++) {
            inputs[i] = tensors.get(i).contiguous();
            offsets[i] = offset;
            backend.copyStrided(inputs[i].storage, 0, inputs[i].shape, Shapes.contiguousStrides(inputs[i].shape),
                    out, offset * outStrides[d], outStrides);
            offset += inputs[i].shape[d];
        }
        return first.result(out, outShape, "concat", g -> {
            Tensor[] grads = new Tensor[inputs.length];
            for (int i = 0; i < inputs.length; i++) {
                grads[i] = g.slice(d, offsets[i], offsets[i] + inputs[i].shape[d]);
            }
            return grads;
        }, inputs);
    }

    /** Broadcasts to a larger shape by copying (the backward pass sums the copies back). */
    public Tensor expand(int... newShape) {
        int[] target = Shapes.broadcast("expand", shape, newShape);
        if (!Arrays.equals(target, newShape)) {
            throw new KilnException("expand: shape " + Shapes.str(shape) + " cannot be expanded to " + Shapes.str(newShape));
        }
        if (Arrays.equals(shape, newShape)) {
            return this;
        }
        Tensor source = contiguous();
        Storage out = backend.allocateUninitialized(storage.dtype(), Shapes.numel(newShape));
        backend.copyStrided(source.storage, 0, newShape, Shapes.broadcastStrides(shape, newShape),
                out, 0, Shapes.contiguousStrides(newShape));
        int[] original = shape.clone();
        return result(out, newShape.clone(), "expand", g -> new Tensor[] {g.sumToShape(original)}, source);
    }

    /** Sums a broadcast gradient back down to {@code target} (the inverse of broadcasting). */
    Tensor sumToShape(int[] target) {
        if (Arrays.equals(shape, target)) {
            return this;
        }
        Tensor t = this;
        int offset = shape.length - target.length;
        for (int i = 0; i < shape.length; i++) {
            int want = i < offset ? 1 : target[i - offset];
            if (want == 1 && shape[i] != 1) {
                t = t.sum(i, true);
            }
        }
        return t.reshape(target);
    }

    // ================================================================ elementwise

    private Tensor unary(String name, UnaryOp op, Backward backward) {
        requireFloat(name);
        Tensor x = contiguous();
        Storage out = newFloats(numel());
        backend.unary(op, x.storage, out);
        return x.result(out, shape, name, backward, x);
    }

    public Tensor neg() {
        return unary("neg", UnaryOp.NEG, g -> new Tensor[] {g.neg()});
    }

    public Tensor exp() {
        Tensor[] self = new Tensor[1];
        self[0] = unary("exp", UnaryOp.EXP, g -> new Tensor[] {g.mul(self[0].detach())});
        return self[0];
    }

    public Tensor log() {
        return unary("log", UnaryOp.LOG, g -> new Tensor[] {g.div(detach())});
    }

    public Tensor tanh() {
        Tensor[] self = new Tensor[1];
        self[0] = unary("tanh", UnaryOp.TANH, g -> {
            Tensor y = self[0].detach();
            return new Tensor[] {g.mul(y.mul(y).neg().add(1f))};
        });
        return self[0];
    }

    public Tensor sigmoid() {
        Tensor[] self = new Tensor[1];
        self[0] = unary("sigmoid", UnaryOp.SIGMOID, g -> {
            Tensor y = self[0].detach();
            return new Tensor[] {g.mul(y.mul(y.neg().add(1f)))};
        });
        return self[0];
    }

    public Tensor relu() {
        return unary("relu", UnaryOp.RELU, g -> new Tensor[] {g.mul(detach().unary("step", UnaryOp.STEP, null))});
    }

    public Tensor sqrt() {
        Tensor[] self = new Tensor[1];
        self[0] = unary("sqrt", UnaryOp.SQRT, g -> new Tensor[] {g.div(self[0].detach().mul(2f))});
        return self[0];
    }

    public Tensor abs() {
        return unary("abs", UnaryOp.ABS, g -> {
            Tensor x = detach();
            Tensor sign = x.unary("step", UnaryOp.STEP, null).sub(x.neg().unary("step", UnaryOp.STEP, null));
            return new Tensor[] {g.mul(sign)};
        });
    }

    /** GELU with the tanh approximation (GPT-2's; PyTorch's {@code gelu(x, approximate='tanh')}): {@link Gelu}. */
    public Tensor gelu() {
        Gelu.Kernel kernel = Gelu.OP.kernel(backend);
        return elementwiseFused("gelu", kernel::forward, kernel::backward);
    }

    /** Exact GELU, x·Φ(x) with the error function (PyTorch's default {@code nn.GELU()}): {@link GeluErf}. */
    public Tensor geluExact() {
        GeluErf.Kernel kernel = GeluErf.OP.kernel(backend);
        return elementwiseFused("geluExact", kernel::forward, kernel::backward);
    }

    /** An elementwise fused operation whose backward needs its input: forward(x, out), backward(x, dy, dx). */
    private Tensor elementwiseFused(String name, java.util.function.BiConsumer<Storage, Storage> forward,
                                    ElementwiseBackward backward) {
        requireFloat(name);
        Tensor x = contiguous();
        Storage out = newFloats(numel());
        forward.accept(x.storage, out);
        return x.result(out, shape, name, g -> {
            Storage dx = newFloats(numel());
            backward.apply(x.storage, g.storage(), dx);
            return new Tensor[] {adopt(backend, dx, shape)};
        }, x);
    }

    @FunctionalInterface
    private interface ElementwiseBackward {
        void apply(Storage x, Storage dy, Storage dx);
    }

    private Tensor binary(String name, BinaryOp op, Tensor other, Backward backward) {
        requireBinaryOperands(name, other);
        Tensor a = contiguous();
        Tensor b = other.contiguous();
        int[] outShape = Shapes.broadcast(name, shape, other.shape);
        Storage out = newFloats(Shapes.numel(outShape));
        backend.binary(op, a.storage, Shapes.broadcastStrides(shape, outShape),
                b.storage, Shapes.broadcastStrides(other.shape, outShape), out, outShape);
        return result(out, outShape, name, backward, a, b);
    }

    public Tensor add(Tensor other) {
        int[] as = shape.clone();
        int[] bs = other.shape.clone();
        return binary("add", BinaryOp.ADD, other, g -> new Tensor[] {g.sumToShape(as), g.sumToShape(bs)});
    }

    public Tensor sub(Tensor other) {
        int[] as = shape.clone();
        int[] bs = other.shape.clone();
        return binary("sub", BinaryOp.SUB, other, g -> new Tensor[] {g.sumToShape(as), g.neg().sumToShape(bs)});
    }

    public Tensor mul(Tensor other) {
        Tensor a = detach();
        Tensor b = other.detach();
        return binary("mul", BinaryOp.MUL, other, g -> new Tensor[] {
                needsGrad(this) ? g.mul(b).sumToShape(a.shape) : null,
                needsGrad(other) ? g.mul(a).sumToShape(b.shape) : null});
    }

    public Tensor div(Tensor other) {
        Tensor a = detach();
        Tensor b = other.detach();
        return binary("div", BinaryOp.DIV, other, g -> new Tensor[] {
                needsGrad(this) ? g.div(b).sumToShape(a.shape) : null,
                needsGrad(other) ? g.mul(a).div(b.mul(b)).neg().sumToShape(b.shape) : null});
    }

    /** Elementwise maximum (PyTorch's {@code torch.maximum}); the gradient goes to the larger operand. */
    public Tensor maximum(Tensor other) {
        Tensor a = detach();
        Tensor b = other.detach();
        return binary("maximum", BinaryOp.MAX, other, g -> {
            Tensor aWins = a.binary("gt", BinaryOp.GT, b, null).add(a.binary("eq", BinaryOp.EQ, b, null).mul(0.5f));
            return new Tensor[] {g.mul(aWins).sumToShape(a.shape), g.mul(aWins.neg().add(1f)).sumToShape(b.shape)};
        });
    }

    private static boolean needsGrad(Tensor t) {
        return t.requiresGrad();
    }

    private Tensor scalarOperand(float value) {
        return scalar(backend, value);
    }

    public Tensor add(float value) {
        return add(scalarOperand(value));
    }

    public Tensor sub(float value) {
        return sub(scalarOperand(value));
    }

    public Tensor mul(float value) {
        return mul(scalarOperand(value));
    }

    public Tensor div(float value) {
        return mul(scalarOperand(1f / value));
    }

    /** x^exponent elementwise. */
    public Tensor pow(float exponent) {
        Tensor x = detach();
        return binary("pow", BinaryOp.POW, scalarOperand(exponent),
                g -> new Tensor[] {g.mul(x.pow(exponent - 1f).mul(exponent)), null});
    }

    // ================================================================ reductions

    private Tensor reduce(String name, ReduceOp op, int dim, boolean keepDim) {
        requireFloat(name);
        int d = Shapes.dim(name, shape, dim);
        Tensor x = contiguous();
        int[] outShape = Shapes.without(shape, d, keepDim);
        Storage out = newFloats(Shapes.numel(outShape));
        backend.reduce(op, x.storage, Shapes.numel(shape, 0, d), shape[d], Shapes.numel(shape, d + 1, shape.length), out);
        int[] kept = Shapes.without(shape, d, true);
        int[] inputShape = shape.clone();
        Tensor[] self = new Tensor[1];
        self[0] = result(out, outShape, name, g -> {
            Tensor spread = g.reshape(kept).expand(inputShape);
            if (op == ReduceOp.SUM) {
                return new Tensor[] {spread};
            }
            // max: the gradient flows to the positions that hold the maximum
            Tensor mask = x.detach().binary("eq", BinaryOp.EQ, self[0].detach().reshape(kept), null);
            return new Tensor[] {spread.mul(mask)};
        }, x);
        return self[0];
    }

    public Tensor sum(int dim, boolean keepDim) {
        return reduce("sum", ReduceOp.SUM, dim, keepDim);
    }

    public Tensor sum(int dim) {
        return sum(dim, false);
    }

    /** The sum of all elements, as a 0-dimensional tensor. */
    public Tensor sum() {
        return reshape(numel()).sum(0, false);
    }

    public Tensor mean(int dim, boolean keepDim) {
        int d = Shapes.dim("mean", shape, dim);
        return sum(d, keepDim).mul(1f / shape[d]);
    }

    public Tensor mean() {
        return sum().mul(1f / numel());
    }

    /** The maximum along a dimension (values only). Ties share the gradient among the tied positions. */
    public Tensor max(int dim, boolean keepDim) {
        return reduce("max", ReduceOp.MAX, dim, keepDim);
    }

    /**
     * The index of the maximum along {@code dim} as an INT32 tensor (the first one where values tie), with no gradient
     * (torch.argmax). Built from primitives: the positions equal to the maximum, weighted by (length − index), have
     * their largest weight at the first of them.
     */
    public Tensor argmax(int dim, boolean keepDim) {
        requireFloat("argmax");
        int d = Shapes.dim("argmax", shape, dim);
        int length = shape[d];
        if (length > (1 << 24)) {
            throw new KilnException("argmax: dimension " + dim + " of shape " + Shapes.str(shape)
                    + " is longer than 2^24, the largest index a float32 holds exactly");
        }
        try (var ignored = GradMode.noGrad()) {
            Tensor x = detach();
            int[] kept = Shapes.without(shape, d, true);
            Tensor isMax = x.binary("eq", BinaryOp.EQ, x.max(d, true), null);
            float[] weights = new float[length];
            for (int i = 0; i < length; i++) {
                weights[i] = length - i;
            }
            int[] weightShape = new int[shape.length];
            Arrays.fill(weightShape, 1);
            weightShape[d] = length;
            Tensor best = isMax.mul(of(backend, weights, weightShape)).max(d, true);     // length − first index
            Tensor index = best.neg().add((float) length).reshape(keepDim ? kept : Shapes.without(shape, d, false));
            Storage ints = backend.allocateUninitialized(DType.INT32, index.numel());
            backend.copyStrided(index.storage, 0, new int[] {index.numel()}, new int[] {1}, ints, 0, new int[] {1});
            return adopt(backend, ints, index.shape);
        }
    }

    /** The index of the largest element of the flattened tensor (torch.argmax with no dimension), as an INT32 scalar. */
    public Tensor argmax() {
        return reshape(numel()).argmax(0, false);
    }

    /**
     * Elementwise choice (torch.where): this tensor's value where {@code condition} is non-zero, else {@code other}'s;
     * the three broadcast together. The condition may be FLOAT32 or INT32 and gets no gradient. Unlike arithmetic on
     * masks, an infinite or NaN value in the branch not chosen never leaks into the result.
     */
    public Tensor where(Tensor condition, Tensor other) {
        requireBinaryOperands("where", other);
        requireSameBackend("where", condition);
        int[] outShape = Shapes.broadcast("where", Shapes.broadcast("where", shape, other.shape), condition.shape);
        int n = Shapes.numel(outShape);
        Tensor chosen;
        try (var ignored = GradMode.noGrad()) {
            Tensor c = condition.dtype() == DType.FLOAT32 ? condition.detach() : condition.toFloat();
            chosen = c.expandCopy(outShape).binary("ne0", BinaryOp.EQ, scalarOperand(0f), null).neg().add(1f);
        }
        // table = [other; this] as (2n, 1) rows; row i + n·chosen[i] is the pick
        Tensor a = expandCopy(outShape).detach();
        Tensor b = other.expandCopy(outShape).detach();
        Storage table = newFloats(2 * n);
        backend.copyStrided(b.storage, 0, new int[] {n}, new int[] {1}, table, 0, new int[] {1});
        backend.copyStrided(a.storage, 0, new int[] {n}, new int[] {1}, table, n, new int[] {1});
        adopt(backend, table, new int[] {2 * n});
        float[] offsets = new float[n];
        for (int i = 0; i < n; i++) {
            offsets[i] = i;
        }
        Tensor rows;
        try (var ignored = GradMode.noGrad()) {
            rows = chosen.reshape(n).mul((float) n).add(of(backend, offsets, n)).toInt();
        }
        Storage out = newFloats(n);
        backend.gather(table, 1, rows.storage, out);
        int[] thisShape = shape.clone();
        int[] otherShape = other.shape.clone();
        Tensor mask = chosen;
        return result(out, outShape, "where", g -> new Tensor[] {
                needsGrad(this) ? g.mul(mask).sumToShape(thisShape) : null,
                needsGrad(other) ? g.mul(mask.neg().add(1f)).sumToShape(otherShape) : null}, this, other);
    }

    /** {@code value} where {@code mask} is non-zero, this tensor elsewhere (torch.masked_fill). */
    public Tensor maskedFill(Tensor mask, float value) {
        return full(backend, value).where(mask, this);
    }

    /** This tensor broadcast to {@code target} as a dense copy (itself when it already has that shape). */
    private Tensor expandCopy(int[] target) {
        return Arrays.equals(shape, target) ? contiguous() : expand(target);
    }

    /** An INT32 copy of this FLOAT32 tensor (values truncated toward zero), outside autograd. */
    public Tensor toInt() {
        return convert(DType.INT32);
    }

    /** A FLOAT32 copy of this INT32 tensor, outside autograd. */
    public Tensor toFloat() {
        return convert(DType.FLOAT32);
    }

    private Tensor convert(DType target) {
        Tensor x = contiguous();
        if (x.dtype() == target) {
            return x.detach();
        }
        Storage out = backend.allocateUninitialized(target, numel());
        backend.copyStrided(x.storage, 0, new int[] {numel()}, new int[] {1}, out, 0, new int[] {1});
        return adopt(backend, out, shape.clone());
    }

    // ================================================================ linear algebra

    /**
     * Matrix product with PyTorch's batching: (..., m, k) @ (..., k, n) → (..., m, n), batch dimensions broadcast.
     * Transposed views ({@link #mT()}) reach the backend as flags, without copies.
     */
    public Tensor matmul(Tensor other) {
        requireBinaryOperands("matmul", other);
        if (shape.length < 2 || other.shape.length < 2) {
            throw new KilnException("matmul: needs operands of at least 2 dimensions, got " + Shapes.str(shape) + " and "
                    + Shapes.str(other.shape));
        }
        int ra = shape.length;
        int rb = other.shape.length;
        int m = shape[ra - 2];
        int k = shape[ra - 1];
        int n = other.shape[rb - 1];
        if (other.shape[rb - 2] != k) {
            throw new KilnException("matmul: shapes " + Shapes.str(shape) + " and " + Shapes.str(other.shape)
                    + " are incompatible (inner dimensions " + k + " and " + other.shape[rb - 2] + ")");
        }
        int[] aBatch = Arrays.copyOf(shape, ra - 2);
        int[] bBatch = Arrays.copyOf(other.shape, rb - 2);
        int[] batch = Shapes.broadcast("matmul", aBatch, bBatch);
        Tensor a = this;
        Tensor b = other;
        int batchCount = Shapes.numel(batch);
        boolean aBroadcast = Shapes.numel(aBatch) == 1;          // one matrix, shared by every batch entry
        boolean bBroadcast = Shapes.numel(bBatch) == 1;
        if (!aBroadcast && !Arrays.equals(aBatch, batch)) {
            a = a.expand(Shapes.concat(batch, new int[] {m, k}));
        }
        if (!bBroadcast && !Arrays.equals(bBatch, batch)) {
            b = b.expand(Shapes.concat(batch, new int[] {k, n}));
        }
        int[] outShape = Shapes.concat(batch, new int[] {m, n});
        Storage out = newFloats(Shapes.numel(outShape));
        MatmulShape geometry;
        if (bBroadcast && !a.transposedView) {
            // (batch·m, k) · (k, n): one large product instead of many small ones
            geometry = new MatmulShape(1, batchCount * m, n, k, false, b.transposedView, 0, 0, false);
        } else {
            geometry = new MatmulShape(batchCount, m, n, k, a.transposedView, b.transposedView,
                    aBroadcast ? 0 : m * k, bBroadcast ? 0 : k * n, false);
        }
        backend.matmul(a.storage, b.storage, out, geometry);
        Tensor left = a;
        Tensor right = b;
        return result(out, outShape, "matmul", g -> new Tensor[] {
                needsGrad(left) ? g.matmul(right.detach().mT()).sumToShape(left.shape) : null,
                needsGrad(right) ? weightGradient(left.detach(), g, right.shape, right.transposedView) : null}, a, b);
    }

    /**
     * dB = Aᵀ·dC, folding a broadcast batch into one product when B was a single matrix. When B is a transposed view
     * (a linear layer's {@code x·Wᵀ}), the product is formed as (dCᵀ·A)ᵀ: dense in W's own (out, in) layout, so the
     * gradient reaches W's {@code grad} without a transposing copy.
     */
    private static Tensor weightGradient(Tensor a, Tensor g, int[] bShape, boolean bTransposed) {
        int k = a.shape[a.shape.length - 1];
        int n = g.shape[g.shape.length - 1];
        if (bShape.length == 2 && !a.transposedView && !g.transposedView) {
            Tensor rows = a.reshape(-1, k);
            Tensor grads = g.reshape(-1, n);
            if (bTransposed) {
                return grads.mT().matmul(rows).mT();                   // ((n, B·m) · (B·m, k))ᵀ
            }
            return rows.mT().matmul(grads);                             // (k, B·m) · (B·m, n)
        }
        return a.mT().matmul(g).sumToShape(bShape);
    }

    /**
     * LoRA's projection as one operation: this (…, k) · weight (k, n) + scaling·(this · down (k, r)) · up (r, n), where
     * the operands may be transposed views ({@code lora_A.mT()}). The low-rank product is added into the base product's
     * output, and in the backward pass dLow·downᵀ into dx, so neither the (…, n) update nor a second (…, k) gradient is
     * ever a tensor of its own, and no pass adds them. The same value and gradients as composing {@link #matmul},
     * {@link #mul} and {@link #add}, up to the order of the additions.
     */
    public Tensor matmulWithLowRank(Tensor weight, Tensor down, Tensor up, float scaling) {
        String op = "matmulWithLowRank";
        requireBinaryOperands(op, weight);
        requireBinaryOperands(op, down);
        requireBinaryOperands(op, up);
        int k = shape.length == 0 ? 0 : shape[shape.length - 1];
        if (shape.length < 2 || weight.shape.length != 2 || down.shape.length != 2 || up.shape.length != 2
                || weight.shape[0] != k || down.shape[0] != k || up.shape[0] != down.shape[1]
                || up.shape[1] != weight.shape[1]) {
            throw new KilnException(op + ": needs x (…, k), weight (k, n), down (k, r) and up (r, n), got "
                    + Shapes.str(shape) + ", " + Shapes.str(weight.shape) + ", " + Shapes.str(down.shape) + " and "
                    + Shapes.str(up.shape));
        }
        Tensor x = contiguous();
        int rows = numel() / k;
        int n = weight.shape[1];
        int rank = down.shape[1];
        Tensor low;                                                   // scaling·x·down (rows, r), kept for dUp
        try (GradMode.NoGrad off = GradMode.noGrad()) {
            low = x.detach().reshape(rows, k).matmul(down.detach()).mul(scaling);
        }
        int[] outShape = shape.clone();
        outShape[outShape.length - 1] = n;
        Storage out = newFloats(rows * n);
        backend.matmul(x.storage, weight.storage, out,
                new MatmulShape(1, rows, n, k, false, weight.transposedView, 0, 0, false));
        backend.matmul(low.storage, up.storage, out,
                new MatmulShape(1, rows, n, rank, false, up.transposedView, 0, 0, true));
        return result(out, outShape, op, g -> {
            Tensor x2 = x.detach().reshape(rows, k);
            Tensor g2 = g.contiguous().reshape(rows, n);
            boolean lowGrad = needsGrad(x) || needsGrad(down);
            Tensor dLow = lowGrad ? g2.matmul(up.detach().mT()).mul(scaling) : null;    // d(x·down) (rows, r)
            Tensor dx = null;
            if (needsGrad(x)) {
                dx = g2.matmul(weight.detach().mT());                                   // (rows, k), fresh
                backend.matmul(dLow.storage, down.storage, dx.storage,                  // += dLow·downᵀ
                        new MatmulShape(1, rows, k, rank, false, !down.transposedView, 0, 0, true));
                dx = dx.reshape(x.shape);
            }
            return new Tensor[] {
                    dx,
                    needsGrad(weight) ? weightGradient(x2, g2, weight.shape, weight.transposedView) : null,
                    needsGrad(down) ? weightGradient(x2, dLow, down.shape, down.transposedView) : null,
                    needsGrad(up) ? weightGradient(low, g2, up.shape, up.transposedView) : null};
        }, x, weight, down, up);
    }

    // ================================================================ neural-network operations

    /** Rows of this (rows, cols) table picked by the int32 {@code ids}: ids.shape + [cols] (an embedding lookup). */
    public Tensor embedding(Tensor ids) {
        requireSameBackend("embedding", ids);
        requireFloat("embedding");
        if (shape.length != 2 || ids.dtype() != DType.INT32) {
            throw new KilnException("embedding: needs a 2-D FLOAT32 table and INT32 ids, got table " + Shapes.str(shape)
                    + " (" + dtype() + ") and ids " + Shapes.str(ids.shape) + " (" + ids.dtype() + ")");
        }
        Tensor table = contiguous();
        int cols = shape[1];
        int[] outShape = Shapes.concat(ids.shape, new int[] {cols});
        Storage out = newFloats(Shapes.numel(outShape));
        Storage idStorage = ids.storage();
        checkIds("embedding", ids, shape[0]);
        backend.gather(table.storage, cols, idStorage, out);
        int[] tableShape = shape.clone();
        return result(out, outShape, "embedding", g -> {
            Tensor gradTable = zeros(backend, tableShape);
            backend.scatterAdd(g.storage(), cols, idStorage, gradTable.storage);
            return new Tensor[] {gradTable};
        }, table);
    }

    private static void checkIds(String op, Tensor ids, int limit) {
        for (int id : ids.toIntArray()) {
            if (id < 0 || id >= limit) {
                throw new KilnException(op + ": id " + id + " is outside [0, " + limit + ") (ids shape "
                        + Shapes.str(ids.shape) + ")");
            }
        }
    }

    private void requireLastDim(String op, int dim) {
        int d = Shapes.dim(op, shape, dim);
        if (d != shape.length - 1) {
            throw new KilnException(op + ": only the last dimension is supported, got dimension " + dim + " of shape "
                    + Shapes.str(shape));
        }
    }

    public Tensor softmax(int dim) {
        requireFloat("softmax");
        requireLastDim("softmax", dim);
        Tensor x = contiguous();
        int cols = shape[shape.length - 1];
        int rows = numel() / cols;
        Storage out = newFloats(numel());
        Softmax.OP.kernel(backend).forward(x.storage, out, rows, cols);
        Tensor[] self = new Tensor[1];
        self[0] = result(out, shape, "softmax", g -> {
            Storage dx = newFloats(numel());
            Softmax.OP.kernel(backend).backward(self[0].storage, g.storage(), dx, rows, cols);
            return new Tensor[] {adopt(backend, dx, shape)};
        }, x);
        return self[0];
    }

    public Tensor logSoftmax(int dim) {
        requireFloat("logSoftmax");
        requireLastDim("logSoftmax", dim);
        Tensor x = contiguous();
        int cols = shape[shape.length - 1];
        int rows = numel() / cols;
        Storage out = newFloats(numel());
        LogSoftmax.OP.kernel(backend).forward(x.storage, out, rows, cols);
        Tensor[] self = new Tensor[1];
        self[0] = result(out, shape, "logSoftmax", g -> {
            Storage dx = newFloats(numel());
            LogSoftmax.OP.kernel(backend).backward(self[0].storage, g.storage(), dx, rows, cols);
            return new Tensor[] {adopt(backend, dx, shape)};
        }, x);
        return self[0];
    }

    /** Layer norm over the last dimension with per-feature weight and bias (PyTorch's {@code F.layer_norm}). */
    public Tensor layerNorm(Tensor weight, Tensor bias, float eps) {
        requireFloat("layerNorm");
        int cols = shape[shape.length - 1];
        if (weight.shape.length != 1 || weight.shape[0] != cols || bias.shape.length != 1 || bias.shape[0] != cols) {
            throw new KilnException("layerNorm: input " + Shapes.str(shape) + " needs weight and bias of shape [" + cols
                    + "], got " + Shapes.str(weight.shape) + " and " + Shapes.str(bias.shape));
        }
        requireSameBackend("layerNorm", weight);
        requireSameBackend("layerNorm", bias);
        Tensor x = contiguous();
        int rows = numel() / cols;
        Storage out = newFloats(numel());
        Tensor mean = adopt(backend, newFloats(rows), new int[] {rows});
        Tensor rstd = adopt(backend, newFloats(rows), new int[] {rows});
        LayerNorm.OP.kernel(backend).forward(x.storage, weight.storage(), bias.storage(), out, mean.storage, rstd.storage,
                rows, cols, eps);
        return result(out, shape, "layerNorm", g -> {
            Storage dx = newFloats(numel());
            Tensor dWeight = zeros(backend, cols);
            Tensor dBias = zeros(backend, cols);
            LayerNorm.OP.kernel(backend).backward(x.storage, weight.storage(), mean.storage, rstd.storage, g.storage(),
                    dx, dWeight.storage, dBias.storage, rows, cols);
            return new Tensor[] {adopt(backend, dx, shape), dWeight, dBias};
        }, x, weight, bias);
    }

    /** RMSNorm over the last dimension with a per-feature weight (PyTorch's {@code F.rms_norm}): {@link RmsNorm}. */
    public Tensor rmsNorm(Tensor weight, float eps) {
        requireFloat("rmsNorm");
        int cols = shape[shape.length - 1];
        if (weight.shape.length != 1 || weight.shape[0] != cols) {
            throw new KilnException("rmsNorm: input " + Shapes.str(shape) + " needs a weight of shape [" + cols
                    + "], got " + Shapes.str(weight.shape));
        }
        requireSameBackend("rmsNorm", weight);
        RmsNorm.Kernel kernel = RmsNorm.OP.kernel(backend);
        Tensor x = contiguous();
        int rows = numel() / cols;
        Storage out = newFloats(numel());
        Tensor rstd = adopt(backend, newFloats(rows), new int[] {rows});
        kernel.forward(x.storage, weight.storage(), out, rstd.storage, rows, cols, eps);
        return result(out, shape, "rmsNorm", g -> {
            Storage dx = newFloats(numel());
            Tensor dWeight = zeros(backend, cols);
            kernel.backward(x.storage, weight.storage(), rstd.storage, g.storage(), dx, dWeight.storage, rows, cols);
            return new Tensor[] {adopt(backend, dx, shape), dWeight};
        }, x, weight);
    }

    /**
     * Mean cross-entropy of these logits (..., classes) against int32 targets (...), skipping targets equal to
     * {@code ignoreIndex} (PyTorch's {@code F.cross_entropy(logits.view(-1, C), targets.view(-1), ignore_index=...)}).
     */
    public Tensor crossEntropy(Tensor targets, int ignoreIndex) {
        return crossEntropy(targets, ignoreIndex, true);
    }

    /**
     * The summed cross-entropy over the targets not equal to {@code ignoreIndex} ({@code reduction='sum'}): what a task's
     * loss is, so that accumulation and shards divide by one global count of targets.
     */
    public Tensor crossEntropySum(Tensor targets, int ignoreIndex) {
        return crossEntropy(targets, ignoreIndex, false);
    }

    private Tensor crossEntropy(Tensor targets, int ignoreIndex, boolean mean) {
        String name = mean ? "crossEntropy" : "crossEntropySum";
        requireFloat(name);
        requireSameBackend(name, targets);
        int cols = shape[shape.length - 1];
        int rows = numel() / cols;
        if (targets.dtype() != DType.INT32 || targets.numel() != rows
                || !Arrays.equals(Arrays.copyOf(shape, shape.length - 1), targets.shape) && targets.shape.length != 1) {
            throw new KilnException(name + ": logits " + Shapes.str(shape) + " need INT32 targets of shape "
                    + Shapes.str(Arrays.copyOf(shape, shape.length - 1)) + ", got " + Shapes.str(targets.shape) + " ("
                    + targets.dtype() + ")");
        }
        int counted = 0;
        for (int target : targets.toIntArray()) {
            if (target == ignoreIndex) {
                continue;
            }
            if (target < 0 || target >= cols) {
                throw new KilnException(name + ": target " + target + " is outside [0, " + cols + ") for logits "
                        + Shapes.str(shape));
            }
            counted++;
        }
        int count = counted;
        CrossEntropy.Kernel kernel = CrossEntropy.OP.kernel(backend);
        Tensor x = contiguous();
        Storage targetStorage = targets.storage();
        Storage rowLoss = newFloats(rows);
        Tensor lse = adopt(backend, newFloats(rows), new int[] {rows});
        kernel.forward(x.storage, targetStorage, rowLoss, lse.storage, rows, cols, ignoreIndex);
        adopt(backend, rowLoss, new int[] {rows});
        Storage total = newFloats(1);
        backend.reduce(ReduceOp.SUM, rowLoss, 1, rows, 1, total);
        if (mean) {
            backend.binary(BinaryOp.MUL, total, new int[0], scalarOperand(count == 0 ? Float.NaN : 1f / count).storage,
                    new int[0], total, new int[0]);
        }
        return result(total, new int[0], name, g -> {
            Storage dx = newFloats(numel());
            float scale = !mean ? g.item() : count == 0 ? 0f : g.item() / count;
            kernel.backward(x.storage, targetStorage, lse.storage, dx, scale, rows, cols, ignoreIndex);
            return new Tensor[] {adopt(backend, dx, shape)};
        }, x);
    }

    /** Zeroes each element with probability p and scales the rest by 1/(1−p); the identity when not training. */
    public Tensor dropout(float p, boolean training, Generator generator) {
        if (p < 0f || p >= 1f) {
            throw new KilnException("dropout: probability must be in [0, 1), got " + p);
        }
        if (!training || p == 0f) {
            return this;
        }
        Tensor keep;
        try (var ignored = GradMode.noGrad()) {
            Tensor u = uniform(backend, 0f, 1f, generator, shape);
            keep = u.binary("gt", BinaryOp.GT, scalarOperand(p), null).mul(1f / (1f - p));
        }
        return mul(keep);
    }

    /**
     * Causal scaled-dot-product attention of query, key and value (B, H, T, D) → (B, H, T, D) (PyTorch's
     * {@code F.scaled_dot_product_attention(q, k, v, is_causal=True)}).
     */
    public Tensor scaledDotProductAttention(Tensor key, Tensor value) {
        if (shape.length != 4 || !Arrays.equals(shape, key.shape)) {
            throw new KilnException("scaledDotProductAttention: query, key and value must share one (B, H, T, D) shape, got "
                    + Shapes.str(shape) + ", " + Shapes.str(key.shape) + " and " + Shapes.str(value.shape));
        }
        return scaledDotProductAttention(key, value, AttentionShape.causal(shape[0], shape[1], shape[2], shape[3]));
    }

    /**
     * Scaled-dot-product attention of queries (B, H, Tq, D) against keys and values (B, H, Tk, D) → (B, H, Tq, D), with
     * the masking of {@code geometry} (causal or not, per-row query offsets and key lengths; see {@link Attention}),
     * which must describe these shapes.
     */
    public Tensor scaledDotProductAttention(Tensor key, Tensor value, AttentionShape geometry) {
        requireFloat("scaledDotProductAttention");
        requireSameBackend("scaledDotProductAttention", key);
        requireSameBackend("scaledDotProductAttention", value);
        int[] keyShape = {geometry.batch(), geometry.heads(), geometry.keys(), geometry.headDim()};
        if (shape.length != 4 || shape[0] != geometry.batch() || shape[1] != geometry.heads()
                || shape[2] != geometry.queries() || shape[3] != geometry.headDim()
                || !Arrays.equals(key.shape, keyShape) || !Arrays.equals(value.shape, keyShape)) {
            throw new KilnException("scaledDotProductAttention: query " + Shapes.str(shape) + ", key "
                    + Shapes.str(key.shape) + " and value " + Shapes.str(value.shape) + " do not match (B, H, Tq, D) and "
                    + "(B, H, Tk, D) of " + geometry);
        }
        Attention.Kernel kernel = Attention.OP.kernel(backend);
        int rows = geometry.batchHeads() * geometry.queries();
        Tensor q = contiguous();
        Tensor k = key.contiguous();
        Tensor v = value.contiguous();
        Storage out = newFloats(numel());
        Tensor lse = adopt(backend, newFloats(rows), new int[] {rows});
        kernel.forward(q.storage, k.storage, v.storage, out, lse.storage, geometry);
        Tensor[] self = new Tensor[1];
        self[0] = result(out, shape, "scaledDotProductAttention", g -> {
            Storage dq = newFloats(numel());
            Storage dk = newFloats(k.numel());
            Storage dv = newFloats(v.numel());
            kernel.backward(q.storage, k.storage, v.storage, self[0].storage, lse.storage, g.storage(),
                    dq, dk, dv, geometry);
            return new Tensor[] {adopt(backend, dq, shape), adopt(backend, dk, keyShape), adopt(backend, dv, keyShape)};
        }, q, k, v);
        return self[0];
    }

    /**
     * One LSTM step on these pre-activation gates (batch, 4·hidden), PyTorch's gate order (i, f, g, o), from the
     * previous cell state (batch, hidden): returns {h, c}, as {@code nn.LSTMCell} does. The backend's fused kernel
     * computes both; each output's backward rule runs the fused backward with the other output's gradient at zero.
     */
    public Tensor[] lstmCell(Tensor cPrev) {
        requireFloat("lstmCell");
        requireSameBackend("lstmCell", cPrev);
        if (shape.length != 2 || shape[1] % 4 != 0 || cPrev.shape.length != 2 || cPrev.shape[0] != shape[0]
                || cPrev.shape[1] * 4 != shape[1]) {
            throw new KilnException("lstmCell: gates " + Shapes.str(shape) + " need shape (batch, 4·hidden) and a cell "
                    + "state (batch, hidden), got " + Shapes.str(cPrev.shape));
        }
        int batch = shape[0];
        int hidden = shape[1] / 4;
        Tensor gates = contiguous();
        Tensor previous = cPrev.contiguous();
        int[] stateShape = {batch, hidden};
        Storage h = newFloats(batch * hidden);
        Storage c = newFloats(batch * hidden);
        Tensor activated = adopt(backend, newFloats(batch * 4 * hidden), shape);
        LstmCell.OP.kernel(backend).forward(gates.storage, previous.storage, h, c, activated.storage, batch, hidden);
        PairBackward backward = (dh, dc) -> {
            Storage dGates = newFloats(batch * 4 * hidden);
            Storage dCPrev = newFloats(batch * hidden);
            LstmCell.OP.kernel(backend).backward(activated.storage, previous.storage, c, dh.storage(), dc.storage(),
                    dGates, dCPrev, batch, hidden);
            return new Tensor[] {adopt(backend, dGates, shape), adopt(backend, dCPrev, stateShape)};
        };
        Tensor hOut = result(h, stateShape, "lstmCell.h",
                g -> backward.apply(g, zeros(backend, stateShape)), gates, previous);
        Tensor cOut = result(c, stateShape, "lstmCell.c",
                g -> backward.apply(zeros(backend, stateShape), g), gates, previous);
        return new Tensor[] {hOut, cOut};
    }

    // ================================================================ in-place updates (optimizers, weight loading)

    /** Overwrites this tensor's values with {@code source}'s (same shape), outside autograd. */
    public void copyFrom(Tensor source) {
        if (!Arrays.equals(source.shape, shape)) {
            throw new KilnException("copyFrom: source shape " + Shapes.str(source.shape) + " differs from "
                    + Shapes.str(shape));
        }
        if (transposedView) {
            throw new KilnException("copyFrom: cannot write into a transposed view " + Shapes.str(shape));
        }
        backend.copyStrided(source.storage(), 0, new int[] {numel()}, new int[] {1}, storage, 0, new int[] {1});
    }

    /** Overwrites this tensor's values from a host array (weight loading). */
    public void copyFrom(float[] values) {
        checkLength("copyFrom", values.length, shape);
        Storage upload = backend.upload(values);
        try {
            backend.copyStrided(upload, 0, new int[] {numel()}, new int[] {1}, storage, 0, new int[] {1});
        } finally {
            backend.release(upload);
        }
    }
}
