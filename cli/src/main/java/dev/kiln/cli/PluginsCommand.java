package dev.kiln.cli;

import dev.kiln.api.plugin.Availability;
import dev.kiln.api.plugin.PluginRegistry;
import dev.kiln.api.plugin.Provider;
import dev.kiln.trainer.Plugins;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.ParentCommand;

/** {@code kiln plugins}: every discovered backend, model and tokenizer, with where it came from and whether it works. */
@Command(name = "plugins", mixinStandardHelpOptions = true,
        description = "List the backends, models and tokenizers Kiln can find.")
final class PluginsCommand implements Callable<Integer> {
    @ParentCommand
    Kiln kiln;

    @Override
    public Integer call() {
        Plugins plugins = kiln.plugins();
        List<String[]> rows = new ArrayList<>();
        rows.add(new String[] {"KIND", "ID", "MODULE", "VERSION", "PRIORITY", "AVAILABLE"});
        addRows(rows, plugins.backends());
        addRows(rows, plugins.models());
        addRows(rows, plugins.tokenizers());
        addRows(rows, plugins.tasks());
        addRows(rows, plugins.communicators());
        int[] widths = new int[rows.getFirst().length];
        for (String[] row : rows) {
            for (int c = 0; c < row.length; c++) {
                widths[c] = Math.max(widths[c], row[c].length());
            }
        }
        for (String[] row : rows) {
            StringBuilder line = new StringBuilder();
            for (int c = 0; c < row.length; c++) {
                line.append(c == row.length - 1 ? row[c] : String.format("%-" + (widths[c] + 2) + "s", row[c]));
            }
            kiln.out.println(line.toString().stripTrailing());
        }
        if (kiln.pluginFolder() != null) {
            kiln.out.println("plugin folder: " + kiln.pluginFolder().toAbsolutePath());
        }
        return 0;
    }

    private static void addRows(List<String[]> rows, PluginRegistry<? extends Provider> registry) {
        for (Provider provider : registry.providers()) {
            Module module = provider.getClass().getModule();
            String version = module.getDescriptor() == null ? "-"
                    : module.getDescriptor().rawVersion().orElse("-");
            Availability availability = provider.probe();
            rows.add(new String[] {registry.kind(), provider.id(), module.isNamed() ? module.getName() : "(unnamed)",
                    version, Integer.toString(provider.priority()),
                    availability.available() ? "yes" : "no: " + availability.reason()});
        }
    }
}
