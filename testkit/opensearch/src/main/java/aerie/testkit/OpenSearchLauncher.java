package aerie.testkit;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;

import org.opensearch.analysis.common.CommonAnalysisPlugin;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.index.reindex.ReindexPlugin;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.plugins.Plugin;
import org.opensearch.transport.Netty4Plugin;

/**
 * One OpenSearch node in this JVM, started the way OpenSearch's own test
 * framework starts one: a {@link Node} with its plugins from the classpath
 * (Netty for HTTP and transport, reindex for delete-by-query, the common
 * analyzers). Binds to 127.0.0.1 only, keeps its data under the home folder
 * it is given, prints "http PORT" once started, and closes the node on
 * SIGTERM. Test infrastructure: never a production launcher.
 *
 * <p>Arguments: home folder, HTTP port, this node's transport port, and the
 * transport ports of every node of the cluster, comma-separated (only its
 * own: a single node); then any number of node settings as KEY=VALUE (a
 * test that needs a small write queue, for example).
 */
public final class OpenSearchLauncher {
    private OpenSearchLauncher() {}

    /** A Node with classpath plugins: the constructor is protected. */
    private static final class LauncherNode extends Node {
        LauncherNode(Environment environment, List<Class<? extends Plugin>> plugins) {
            super(environment, plugins, true);
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 4) {
            System.err.println("usage: OpenSearchLauncher HOME HTTP_PORT TRANSPORT_PORT ALL_TRANSPORT_PORTS [KEY=VALUE...]");
            System.exit(2);
        }
        Path home = Path.of(args[0]);
        String httpPort = args[1];
        String transportPort = args[2];
        List<String> cluster = Arrays.asList(args[3].split(","));
        String name = "node-" + transportPort;
        Files.createDirectories(home.resolve("config"));
        Settings.Builder settings = Settings.builder()
            .put("path.home", home.toString())
            .put("path.data", home.resolve("data").toString())
            .put("path.logs", home.resolve("logs").toString())
            .put("cluster.name", "aerie-test")
            .put("node.name", name)
            .put("network.host", "127.0.0.1")
            .put("http.port", httpPort)
            .put("transport.port", transportPort)
            .put("http.type", "netty4")
            .put("transport.type", "netty4")
            // A test machine's disk may be fuller than production's watermarks.
            .put("cluster.routing.allocation.disk.threshold_enabled", false);
        if (cluster.size() == 1) {
            settings.put("discovery.type", "single-node");
        } else {
            settings.putList("discovery.seed_hosts", cluster.stream().map(p -> "127.0.0.1:" + p).toList());
            settings.putList("cluster.initial_cluster_manager_nodes", cluster.stream().map(p -> "node-" + p).toList());
        }
        for (String setting : Arrays.asList(args).subList(4, args.length)) {
            int equals = setting.indexOf('=');
            if (equals < 1) {
                System.err.println("a node setting must read KEY=VALUE, not " + setting);
                System.exit(2);
            }
            settings.put(setting.substring(0, equals), setting.substring(equals + 1));
        }
        Environment environment = InternalSettingsPreparer.prepareEnvironment(
            settings.build(), Collections.emptyMap(), home.resolve("config"), () -> name);
        Node node = new LauncherNode(
            environment, List.of(Netty4Plugin.class, ReindexPlugin.class, CommonAnalysisPlugin.class));
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
            } catch (Exception e) {
                System.err.println("closing the node: " + e);
            }
        }));
        node.start();
        System.out.println("http " + httpPort);
        System.out.flush();
        Thread.currentThread().join();
    }
}
