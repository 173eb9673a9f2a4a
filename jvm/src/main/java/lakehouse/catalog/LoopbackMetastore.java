package lakehouse.catalog;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import org.apache.hadoop.hive.conf.HiveConf;
import org.apache.hadoop.hive.metastore.HiveMetaStore;
import org.apache.hadoop.hive.metastore.api.ThriftHiveMetastore;
import org.apache.thrift.protocol.TBinaryProtocol;
import org.apache.thrift.server.TServer;
import org.apache.thrift.server.TThreadPoolServer;
import org.apache.thrift.transport.TServerSocket;
import org.apache.thrift.transport.TTransportFactory;

/**
 * A Hive metastore (Thrift) server bound to one address, for a lake on one machine.
 *
 * <p>The metastore's own main ({@code HiveMetaStore}) of the Hive 2.3 jars Spark
 * ships listens on every interface and has no setting to change that. This
 * server runs the same handler, backed by an embedded Derby database, behind a
 * socket bound to the address given (127.0.0.1 in this project), so any number
 * of Spark applications on the machine share one catalog while the database
 * files stay owned by a single JVM.
 *
 * <p>Usage: {@code LoopbackMetastore HOST PORT DERBY_DB WAREHOUSE_URI}
 */
public final class LoopbackMetastore {

  private LoopbackMetastore() {}

  public static void main(String[] args) throws Exception {
    if (args.length != 4) {
      System.err.println("usage: LoopbackMetastore HOST PORT DERBY_DB WAREHOUSE_URI");
      System.exit(2);
    }
    String host = args[0];
    int port = Integer.parseInt(args[1]);
    HiveConf conf = new HiveConf(LoopbackMetastore.class);
    conf.setVar(
        HiveConf.ConfVars.METASTORECONNECTURLKEY,
        "jdbc:derby:;databaseName=" + args[2] + ";create=true");
    conf.setVar(HiveConf.ConfVars.METASTORE_CONNECTION_DRIVER, "org.apache.derby.jdbc.EmbeddedDriver");
    conf.setVar(HiveConf.ConfVars.METASTOREWAREHOUSE, args[3]);
    conf.setBoolVar(HiveConf.ConfVars.METASTORE_AUTO_CREATE_ALL, true);
    conf.setBoolVar(HiveConf.ConfVars.METASTORE_SCHEMA_VERIFICATION, false);
    conf.setBoolVar(HiveConf.ConfVars.HIVE_SERVER2_LOGGING_OPERATION_ENABLED, false);

    ThriftHiveMetastore.Iface handler = HiveMetaStore.newRetryingHMSHandler("lakehouse-metastore", conf, false);
    TServerSocket socket =
        new TServerSocket(new InetSocketAddress(InetAddress.getByName(host), port));
    TThreadPoolServer.Args serverArgs =
        new TThreadPoolServer.Args(socket)
            .processor(new ThriftHiveMetastore.Processor<>(handler))
            .transportFactory(new TTransportFactory())
            .protocolFactory(new TBinaryProtocol.Factory())
            .minWorkerThreads(2)
            .maxWorkerThreads(64);
    TServer server = new TThreadPoolServer(serverArgs);
    Runtime.getRuntime().addShutdownHook(new Thread(server::stop));
    System.out.println("metastore: listening on " + host + ":" + port + ", database " + args[2]);
    System.out.flush();
    server.serve();
  }
}
