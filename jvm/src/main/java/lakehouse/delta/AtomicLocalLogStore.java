package lakehouse.delta;

import io.delta.storage.HadoopFileSystemLogStore;
import java.io.File;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Iterator;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocalFileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RawLocalFileSystem;

/**
 * A Delta LogStore for the local file system that is safe for writers in
 * different processes.
 *
 * <p>Delta commits version N by creating the file {@code N.json} only if it
 * does not exist yet. The default store for {@code file:} paths checks for
 * the file and then renames a temporary file onto it; on a local file system
 * the rename replaces a file another process created in between, so two
 * Spark applications committing at the same moment can both "succeed" and
 * one commit is silently lost. This store publishes the commit with a hard
 * link instead: {@code link(2)} fails with EEXIST when the name is taken, in
 * one atomic step, so the losing writer gets the FileAlreadyExistsException
 * Delta expects and retries at the next version.
 *
 * <p>Enabled with {@code spark.delta.logStore.file.impl=lakehouse.delta.AtomicLocalLogStore}.
 */
public class AtomicLocalLogStore extends HadoopFileSystemLogStore {

  private static final AtomicLong PUBLISHED = new AtomicLong();

  /** Files this JVM has published through the store (lets tests see it is in use). */
  public static long publishedCount() {
    return PUBLISHED.get();
  }

  public AtomicLocalLogStore(Configuration hadoopConf) {
    super(hadoopConf);
  }

  @Override
  public void write(Path path, Iterator<String> actions, Boolean overwrite, Configuration hadoopConf)
      throws IOException {
    File target = localFile(path, hadoopConf);
    File dir = target.getParentFile();
    if (!dir.isDirectory() && !dir.mkdirs() && !dir.isDirectory()) {
      throw new IOException("cannot create directory " + dir);
    }
    if (!overwrite && target.exists()) {
      throw new FileAlreadyExistsException(path.toString());
    }
    java.nio.file.Path temp =
        dir.toPath().resolve("." + target.getName() + "." + UUID.randomUUID() + ".tmp");
    try {
      try (FileChannel out =
          FileChannel.open(temp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
        boolean first = true;
        while (actions.hasNext()) {
          String line = (first ? "" : "\n") + actions.next();
          first = false;
          ByteBuffer bytes = ByteBuffer.wrap(line.getBytes(StandardCharsets.UTF_8));
          while (bytes.hasRemaining()) {
            out.write(bytes);
          }
        }
        out.force(true);
      }
      if (overwrite) {
        Files.move(temp, target.toPath(), StandardCopyOption.REPLACE_EXISTING,
            StandardCopyOption.ATOMIC_MOVE);
      } else {
        // throws java.nio.file.FileAlreadyExistsException when another writer won
        Files.createLink(target.toPath(), temp);
      }
      PUBLISHED.incrementAndGet();
      syncDirectory(dir);
    } finally {
      Files.deleteIfExists(temp);
    }
  }

  @Override
  public Boolean isPartialWriteVisible(Path path, Configuration hadoopConf) {
    return false;
  }

  private static File localFile(Path path, Configuration hadoopConf) throws IOException {
    FileSystem fs = path.getFileSystem(hadoopConf);
    if (fs instanceof LocalFileSystem) {
      return ((LocalFileSystem) fs).pathToFile(path);
    }
    if (fs instanceof RawLocalFileSystem) {
      return ((RawLocalFileSystem) fs).pathToFile(path);
    }
    throw new IOException(
        "AtomicLocalLogStore only handles the local file system, not " + fs.getUri());
  }

  private static void syncDirectory(File dir) {
    try (FileChannel channel = FileChannel.open(dir.toPath(), StandardOpenOption.READ)) {
      channel.force(true);
    } catch (IOException ignored) {
      // not every platform can fsync a directory; the link itself is already atomic
    }
  }
}
