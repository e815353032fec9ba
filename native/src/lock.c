/*
 * lockFile(path): an exclusive, non-blocking flock(2) on `path` (created if
 * missing), held through the returned descriptor until the process exits or
 * closes it. The kernel drops the lock with the process, so a crashed
 * holder never leaves a stale lock, and there is no window between checking
 * and taking it. Returns -1 when another process holds the lock.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define PATH_BYTES 4096

static napi_value lock_file(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  char path[PATH_BYTES];
  size_t length = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], path, sizeof path, &length) != napi_ok ||
      length >= sizeof path - 1) {
    napi_throw_type_error(env, NULL, "lockFile(path: string)");
    return NULL;
  }
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    napi_throw_error(env, "ELOCKOPEN", strerror(errno));
    return NULL;
  }
  int result;
  do {
    result = flock(fd, LOCK_EX | LOCK_NB);
  } while (result != 0 && errno == EINTR);
  napi_value out;
  if (result != 0) {
    int error = errno;
    close(fd);
    if (error == EWOULDBLOCK) {
      napi_create_int32(env, -1, &out);
      return out;
    }
    napi_throw_error(env, "ELOCK", strerror(error));
    return NULL;
  }
  napi_create_int32(env, fd, &out);
  return out;
}

napi_value register_lock(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "lockFile", NAPI_AUTO_LENGTH, lock_file, NULL, &fn);
  napi_set_named_property(env, exports, "lockFile", fn);
  return exports;
}
