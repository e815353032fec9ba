/*
 * createPipe(): a real pipe(2), which Node has no API for. Tasks open their
 * status pipe by path (/dev/fd/N) and write to /dev/stdout; both fail on the
 * socketpairs Node's child_process creates, so every task pipe is a pipe.
 * Both ends are close-on-exec; spawn's stdio mapping dup2s the child's end
 * into place without the flag.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <string.h>
#include <unistd.h>

static napi_value create_pipe(napi_env env, napi_callback_info info) {
  (void)info;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    napi_throw_error(env, "EPIPECREATE", strerror(errno));
    return NULL;
  }
  napi_value result, read_end, write_end;
  napi_create_array_with_length(env, 2, &result);
  napi_create_int32(env, fds[0], &read_end);
  napi_create_int32(env, fds[1], &write_end);
  napi_set_element(env, result, 0, read_end);
  napi_set_element(env, result, 1, write_end);
  return result;
}

static napi_value close_fd(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok) {
    napi_throw_type_error(env, NULL, "closeFd(fd: number)");
    return NULL;
  }
  close(fd);
  return NULL;
}

napi_value register_spawn(napi_env env, napi_value exports);
napi_value register_lock(napi_env env, napi_value exports);
napi_value register_clock(napi_env env, napi_value exports);

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  register_spawn(env, exports);
  register_lock(env, exports);
  register_clock(env, exports);
  napi_create_function(env, "createPipe", NAPI_AUTO_LENGTH, create_pipe, NULL, &fn);
  napi_set_named_property(env, exports, "createPipe", fn);
  napi_create_function(env, "closeFd", NAPI_AUTO_LENGTH, close_fd, NULL, &fn);
  napi_set_named_property(env, exports, "closeFd", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
