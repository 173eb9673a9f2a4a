package lakehouse.delta;

import io.delta.storage.HadoopFileSystemLogStore;
import java.io.ByteArrayOutputStream;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.util.Arrays;
import java.util.Iterator;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FSDataOutputStreamBuilder;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/**
 * A Delta LogStore for object stores with conditional writes (S3 and the
 * S3-compatible servers that honour {@code If-None-Match: *}), safe for
 * writers in different Spark applications.
 *
 * <p>Delta commits version N by creating {@code _delta_log/N.json} only if it
 * does not exist yet. Delta's own store for {@code s3a:} paths checks that
 * inside one JVM only: two applications committing the same version both
 * "succeed", the later PUT replaces the earlier, and a commit is lost. This
 * store asks S3A to create the file with {@code If-None-Match: *}
 * (Hadoop's {@code fs.option.create.conditional.overwrite} create option):
 * the store itself refuses the second PUT with 412, and the losing writer
 * gets the FileAlreadyExistsException Delta expects, so it re-reads the log
 * and retries at the next version.
 *
 * <p>A PUT whose reply was lost is retried by S3A and may then meet its own
 * first attempt; the store reads the file back and treats identical content
 * as its own success, anything else as a lost race.
 *
 * <p>Enabled with {@code spark.delta.logStore.s3a.impl=lakehouse.delta.ConditionalPutLogStore}
 * and {@code spark.hadoop.fs.s3a.create.conditional.enabled=true}.
 */
public class ConditionalPutLogStore extends HadoopFileSystemLogStore {

  /** Hadoop's createFile option for a create that fails when the object exists. */
  public static final String CONDITIONAL_CREATE = "fs.option.create.conditional.overwrite";

  private static final AtomicLong PUBLISHED = new AtomicLong();
  private static final AtomicLong REFUSED = new AtomicLong();

  /** Commits this JVM has published through the store. */
  public static long publishedCount() {
    return PUBLISHED.get();
  }

  /** Commits this JVM lost to another writer (the store refused them). */
  public static long refusedCount() {
    return REFUSED.get();
  }

  public ConditionalPutLogStore(Configuration hadoopConf) {
    super(hadoopConf);
  }

  @Override
  public void write(Path path, Iterator<String> actions, Boolean overwrite, Configuration hadoopConf)
      throws IOException {
    FileSystem fs = path.getFileSystem(hadoopConf);
    Path target = fs.makeQualified(path);
    if (overwrite) {
      byte[] content = join(actions);
      try (FSDataOutputStream out = fs.create(target, true)) {
        out.write(content);
      }
      PUBLISHED.incrementAndGet();
      return;
    }
    if (fs.exists(target)) { // cheap early answer; the conditional PUT below decides
      REFUSED.incrementAndGet();
      throw new FileAlreadyExistsException(path.toString());
    }
    FSDataOutputStreamBuilder<?, ?> builder = fs.createFile(target).overwrite(false);
    builder.must(CONDITIONAL_CREATE, true);
    // all lines first: a failing iterator must not leave a half commit behind
    byte[] content = join(actions);
    try {
      try (FSDataOutputStream out = builder.build()) {
        out.write(content);
      }
    } catch (IOException failed) {
      // 412 from the store, or a retried PUT that met its own first attempt
      byte[] found = readIfPresent(fs, target);
      if (found == null) {
        throw failed;
      }
      if (Arrays.equals(found, content)) {
        PUBLISHED.incrementAndGet();
        return;
      }
      REFUSED.incrementAndGet();
      FileAlreadyExistsException lost = new FileAlreadyExistsException(path.toString());
      lost.initCause(failed);
      throw lost;
    }
    PUBLISHED.incrementAndGet();
  }

  @Override
  public Boolean isPartialWriteVisible(Path path, Configuration hadoopConf) {
    return false; // a PUT is visible whole or not at all
  }

  /** The actions as newline-separated UTF-8 lines. */
  private static byte[] join(Iterator<String> actions) throws IOException {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    boolean first = true;
    while (actions.hasNext()) {
      if (!first) {
        bytes.write('\n');
      }
      first = false;
      bytes.write(actions.next().getBytes(StandardCharsets.UTF_8));
    }
    return bytes.toByteArray();
  }

  private static byte[] readIfPresent(FileSystem fs, Path target) throws IOException {
    try (FSDataInputStream in = fs.open(target)) {
      return in.readAllBytes();
    } catch (FileNotFoundException absent) {
      return null;
    }
  }
}
