/**
 * The {@code kiln} command. It reaches models, tokenizers and backends only through the api's registries: the ones
 * shipped with Kiln sit on the module path, others come from a {@code plugins/} folder loaded as a module layer.
 */
module dev.kiln.cli {
    requires dev.kiln.trainer;
    requires dev.kiln.serve;
    requires info.picocli;
    requires org.yaml.snakeyaml;

    opens dev.kiln.cli to info.picocli;

    exports dev.kiln.cli;
}
