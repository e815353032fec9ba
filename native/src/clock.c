/* boottimeMs(): CLOCK_BOOTTIME in milliseconds, the clock lease deadlines use (it keeps counting through a suspend). */
#define _GNU_SOURCE
#include <node_api.h>
#include <time.h>

static napi_value boottime_ms(napi_env env, napi_callback_info info) {
  (void)info;
  struct timespec ts;
  clock_gettime(CLOCK_BOOTTIME, &ts);
  napi_value result;
  napi_create_double(env, (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6, &result);
  return result;
}

napi_value register_clock(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "boottimeMs", NAPI_AUTO_LENGTH, boottime_ms, NULL, &fn);
  napi_set_named_property(env, exports, "boottimeMs", fn);
  return exports;
}
