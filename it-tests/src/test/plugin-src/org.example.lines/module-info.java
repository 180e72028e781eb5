/** A task plugin built outside Kiln's reactor: each line of the corpus is one training sequence. */
module org.example.lines {
    requires dev.kiln.api;

    provides dev.kiln.api.task.TaskProvider with org.example.lines.LinesTaskProvider;
}
