package dev.kiln.conformance;

import static com.tngtech.archunit.base.DescribedPredicate.not;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.resideInAPackage;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.resideInAnyPackage;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.GeneralCodingRules.ACCESS_STANDARD_STREAMS;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import dev.kiln.api.backend.Backend;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * DESIGN.md's dependency rules, each one really checked against the compiled classes of every module in the build.
 * Rules about modules that do not exist yet are checked too: they pass vacuously now and bite when the module lands.
 */
class ArchitectureTest {
    /** Plugin root packages: each may depend on the api and on itself only. */
    private static final List<String> PLUGINS = List.of(
            "dev.kiln.backend.cpu", "dev.kiln.backend.opencl", "dev.kiln.tokenizer.bpe",
            "dev.kiln.model.lstm", "dev.kiln.model.transformer");

    private static JavaClasses classes;

    @BeforeAll
    static void importBuild() {
        List<Path> roots = System.getProperties().stringPropertyNames().stream()
                .filter(name -> name.startsWith("kiln.classes."))
                .map(name -> Path.of(System.getProperty(name)))
                .filter(Files::isDirectory)
                .toList();
        assertTrue(roots.size() >= 3, "the build's class folders are passed as kiln.classes.* properties: " + roots);
        classes = new ClassFileImporter().withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                .importPaths(roots);
        assertTrue(classes.contain("dev.kiln.api.tensor.Tensor") && classes.contain("dev.kiln.backend.cpu.CpuBackend"));
    }

    @Test
    void apiDependsOnTheJdkOnly() {
        noClasses().that().resideInAPackage("dev.kiln.api..")
                .should().dependOnClassesThat(not(resideInAnyPackage("dev.kiln.api..", "java..")))
                .check(classes);
    }

    @Test
    void pluginsDependOnTheApiOnly() {
        for (String plugin : PLUGINS) {
            noClasses().that().resideInAPackage(plugin + "..")
                    .should().dependOnClassesThat(resideInAPackage("dev.kiln..")
                            .and(not(resideInAnyPackage("dev.kiln.api..", plugin + ".."))))
                    .allowEmptyShould(true)
                    .check(classes);
        }
    }

    @Test
    void trainerServeAndCliReachPluginsOnlyThroughTheRegistry() {
        noClasses().that().resideInAnyPackage("dev.kiln.trainer..", "dev.kiln.serve..", "dev.kiln.cli..")
                .should().dependOnClassesThat(resideInAnyPackage(PLUGINS.stream().map(p -> p + "..").toArray(String[]::new)))
                .allowEmptyShould(true)
                .check(classes);
    }

    @Test
    void theVectorApiStaysInTheCpuBackend() {
        noClasses().that().resideOutsideOfPackage("dev.kiln.backend.cpu..")
                .should().dependOnClassesThat().resideInAPackage("jdk.incubator.vector..")
                .check(classes);
    }

    @Test
    void joclStaysInTheOpenClBackend() {
        noClasses().that().resideOutsideOfPackage("dev.kiln.backend.opencl..")
                .should().dependOnClassesThat().resideInAPackage("org.jocl..")
                .check(classes);
    }

    @Test
    void httpStaysInTheServer() {
        noClasses().that().resideOutsideOfPackage("dev.kiln.serve..")
                .should().dependOnClassesThat().resideInAPackage("com.sun.net.httpserver..")
                .check(classes);
    }

    @Test
    void noPackageCycles() {
        slices().matching("dev.kiln.(**)").should().beFreeOfCycles().check(classes);
    }

    @Test
    void onlyTheCliPrints() {
        noClasses().that().resideOutsideOfPackage("dev.kiln.cli..").should(ACCESS_STANDARD_STREAMS).check(classes);
    }

    @Test
    void theRequiredBackendSurfaceStaysSmall() {
        List<String> required = Arrays.stream(Backend.class.getMethods())
                .filter(m -> Modifier.isAbstract(m.getModifiers()))
                .map(Method::getName)
                .sorted()
                .toList();
        assertTrue(required.size() <= 17, "a new backend implements " + required.size()
                + " methods; keep it at most 17 (fused operations are defaults): " + required);
    }
}
