/*
 * spawnProcess(): start the task launcher without forking the Node process
 * and report its exit through a pidfd watched by the event loop.
 *
 * Why not child_process.spawn: libuv forks the whole Node process, whose
 * page tables grow with the heap, so each launch costs a millisecond or more
 * on the event loop. A clone that shares the parent's memory until exec
 * costs the same whatever the supervisor's size (see clone_launch below).
 *
 * Reaping: libuv reaps only the pids it spawned (waitpid per pid), so the
 * children started here are ours alone to reap. A pidfd becomes readable
 * when the process exits; waitid(P_PIDFD) then reaps it. The pid cannot be
 * reused before the JavaScript callback has run, because the reaping and the
 * callback happen in the same turn of the event loop: a process.kill() by
 * pid from JavaScript before the callback reaches the zombie, never a
 * stranger.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "spawn_thread.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

#define MAX_CHILD_FDS 16
#define LAUNCHER_ERROR_FD 3
#define CHILD_STACK_SIZE (64 * 1024)

typedef struct launch_record launch_record;
static void free_launch(launch_record *launch);
static int launch_child_ran(const launch_record *launch);

typedef struct {
  uv_poll_t poll;
  napi_env env;
  napi_ref callback;
  napi_async_context async_context;
  int pidfd;
  /* What the child may still read until it execs; freed once it is reaped. */
  launch_record *launch;
} exit_watch;

/* An Error like Node's for a failed system call: code, errno (negative) and syscall. */
static napi_value errno_error(napi_env env, const char *what, int err) {
  napi_value code, message, error, errno_value;
  napi_create_string_utf8(env, strerror(err), NAPI_AUTO_LENGTH, &message);
  const char *name = err == ENOENT ? "ENOENT" : err == EACCES ? "EACCES" : err == EAGAIN ? "EAGAIN" : "ESPAWN";
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
  napi_create_error(env, code, message, &error);
  napi_create_int32(env, -err, &errno_value);
  napi_set_named_property(env, error, "errno", errno_value);
  napi_value syscall_value;
  napi_create_string_utf8(env, what, NAPI_AUTO_LENGTH, &syscall_value);
  napi_set_named_property(env, error, "syscall", syscall_value);
  return error;
}

static void throw_errno(napi_env env, const char *what, int err) {
  napi_throw(env, errno_error(env, what, err));
}

/* Calls `callback` from the event loop as an asynchronous callback; an exception it throws is fatal. */
static void call_back(napi_env env, napi_async_context context, napi_value callback, size_t argc,
                      const napi_value *argv) {
  napi_value global, result;
  napi_get_global(env, &global);
  if (napi_make_callback(env, context, global, callback, argc, argv, &result) == napi_pending_exception) {
    napi_value error;
    napi_get_and_clear_last_exception(env, &error);
    napi_fatal_exception(env, error); /* to process 'uncaughtException', as for any callback */
  }
}

static void free_strings(char **strings);

/* A JS string array as a NULL-terminated C array; NULL (with an exception pending) on failure. */
static char **string_array(napi_env env, napi_value array, const char *name) {
  uint32_t length = 0;
  if (napi_get_array_length(env, array, &length) != napi_ok) {
    napi_throw_type_error(env, NULL, name);
    return NULL;
  }
  char **result = calloc(length + 1, sizeof(char *));
  if (!result) {
    throw_errno(env, "spawn", ENOMEM);
    return NULL;
  }
  for (uint32_t i = 0; i < length; i++) {
    napi_value item;
    size_t size = 0;
    napi_get_element(env, array, i, &item);
    if (napi_get_value_string_utf8(env, item, NULL, 0, &size) != napi_ok) {
      napi_throw_type_error(env, NULL, name);
      for (uint32_t j = 0; j < i; j++) free(result[j]);
      free(result);
      return NULL;
    }
    result[i] = malloc(size + 1);
    if (!result[i]) {
      free_strings(result);
      throw_errno(env, "spawn", ENOMEM);
      return NULL;
    }
    napi_get_value_string_utf8(env, item, result[i], size + 1, &size);
  }
  return result;
}

static void free_strings(char **strings) {
  if (!strings) return;
  for (char **s = strings; *s; s++) free(*s);
  free(strings);
}

static void on_watch_closed(uv_handle_t *handle) {
  exit_watch *watch = (exit_watch *)handle;
  napi_delete_reference(watch->env, watch->callback);
  napi_async_destroy(watch->env, watch->async_context);
  close(watch->pidfd); /* only now: libuv may still hold it until the handle is closed */
  free_launch(watch->launch);
  free(watch);
}

static void on_pidfd_readable(uv_poll_t *poll, int status, int events) {
  (void)status;
  (void)events;
  exit_watch *watch = (exit_watch *)poll;
  siginfo_t info;
  memset(&info, 0, sizeof info);
  if (waitid((idtype_t)P_PIDFD, (id_t)watch->pidfd, &info, WEXITED | WNOHANG) != 0) {
    if (errno == EINTR || errno == EAGAIN) return;
    info.si_code = 0; /* ECHILD: someone else reaped it; report an unknown end */
  } else if (info.si_pid == 0) {
    return; /* not exited yet */
  }
  uv_poll_stop(poll);

  napi_env env = watch->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value code, signal_number, callback;
  if (info.si_code == CLD_EXITED) {
    napi_create_int32(env, info.si_status, &code);
    napi_get_null(env, &signal_number);
  } else if (info.si_code == CLD_KILLED || info.si_code == CLD_DUMPED) {
    napi_get_null(env, &code);
    napi_create_int32(env, info.si_status, &signal_number);
  } else {
    napi_get_null(env, &code);
    napi_get_null(env, &signal_number);
  }
  napi_value ran;
  napi_get_boolean(env, launch_child_ran(watch->launch), &ran);
  napi_value argv[3] = {code, signal_number, ran};
  napi_get_reference_value(env, watch->callback, &callback);
  call_back(env, watch->async_context, callback, 3, argv);
  napi_close_handle_scope(env, scope);
  uv_close((uv_handle_t *)poll, on_watch_closed);
}

/*
 * Starting the child without blocking the event loop.
 *
 * posix_spawn's vfork-style clone suspends the calling thread until the
 * child has exec'd, and under load the new child waits its turn for a CPU:
 * the event loop then sits idle for most of a millisecond per task. Where we
 * can make raw system calls, we clone with CLONE_VM but without CLONE_VFORK:
 * the parent returns at once. The child shares the parent's memory until its
 * exec, so it follows the vfork rules strictly: it runs on a stack of its
 * own, touches only memory the parent keeps unchanged until the child is
 * reaped (the launch record below), calls no libc function (raw system
 * calls: not even errno, which lives in the parent's thread-local storage),
 * and runs with every signal blocked (the launcher unblocks them after exec).
 * It gets a copy of the fd table, not a share, so the parent may close its
 * ends right away.
 */
struct launch_record {
  char **argv;
  char **envp;
  char *file;
  int fds[MAX_CHILD_FDS];
  int fd_count;
  /*
   * Set by the child as its first act: a child that died of SIGKILL with this
   * still 0 never ran a single instruction of ours (the kernel killed it inside
   * the clone), so it certainly never started the task.
   */
  volatile int child_ran;
  void *stack; /* CHILD_STACK_SIZE bytes */
};

static int launch_child_ran(const launch_record *launch) {
  return launch->child_ran != 0;
}

/*
 * Child stacks are kept for the next launch instead of unmapped. mmap and
 * munmap take the process's memory-map lock for writing, and a launched
 * child shares that memory map until its exec: a child preempted in the
 * middle of its exec (reading its arguments from our memory holds the lock
 * for reading) would hold the event loop in mmap for tens of milliseconds.
 */
#define MAX_KEPT_STACKS 256
static void *kept_stacks[MAX_KEPT_STACKS];
static int kept_stack_count = 0;
static pthread_mutex_t kept_stacks_lock = PTHREAD_MUTEX_INITIALIZER;

static void *take_stack(void) {
  void *stack = NULL;
  pthread_mutex_lock(&kept_stacks_lock);
  if (kept_stack_count > 0) stack = kept_stacks[--kept_stack_count];
  pthread_mutex_unlock(&kept_stacks_lock);
  if (stack) return stack;
  stack = mmap(NULL, CHILD_STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  return stack == MAP_FAILED ? NULL : stack;
}

/* Only once its child is reaped: the child ran on it. */
static void keep_stack(void *stack) {
  pthread_mutex_lock(&kept_stacks_lock);
  int kept = kept_stack_count < MAX_KEPT_STACKS;
  if (kept) kept_stacks[kept_stack_count++] = stack;
  pthread_mutex_unlock(&kept_stacks_lock);
  if (!kept) munmap(stack, CHILD_STACK_SIZE);
}

static void free_launch(launch_record *launch) {
  if (!launch) return;
  free_strings(launch->argv);
  free_strings(launch->envp);
  free(launch->file);
  if (launch->stack) keep_stack(launch->stack);
  free(launch);
}

#if defined(__x86_64__) || defined(__aarch64__)
#define HAVE_RAW_SYSCALLS 1
static long raw_syscall(long number, long a, long b, long c) {
  long result;
#if defined(__x86_64__)
  __asm__ volatile("syscall" : "=a"(result) : "a"(number), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
#else
  register long x8 __asm__("x8") = number;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  __asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
  result = x0;
#endif
  return result;
}

/* Writes "launcher-exec <errno> ...": the launcher's own failure-line format, on its error pipe. */
static void child_report(long err) {
  char line[96] = "launcher-exec ";
  size_t n = 14;
  char digits[12];
  size_t d = 0;
  unsigned long value = (unsigned long)(err < 0 ? -err : err);
  do {
    digits[d++] = (char)('0' + value % 10);
    value /= 10;
  } while (value > 0 && d < sizeof digits);
  while (d > 0) line[n++] = digits[--d];
  const char *tail = " cannot set up or execute the task launcher\n";
  for (const char *t = tail; *t && n < sizeof line; t++) line[n++] = *t;
  raw_syscall(SYS_write, LAUNCHER_ERROR_FD, (long)line, (long)n);
}

static int child_main(void *arg) {
  launch_record *launch = arg;
  launch->child_ran = 1;
  long result = 0;
  for (int i = 0; i < launch->fd_count && result >= 0; i++) {
    int source = launch->fds[i];
    if (source < 0) {
      result = raw_syscall(SYS_openat, AT_FDCWD, (long)"/dev/null", O_RDWR);
      if (result >= 0 && result != i) {
        long opened = result;
        result = raw_syscall(SYS_dup3, opened, i, 0);
        raw_syscall(SYS_close, opened, 0, 0);
      }
    } else if (source == i) {
      result = raw_syscall(SYS_fcntl, i, F_SETFD, 0); /* keep it across exec */
    } else {
      result = raw_syscall(SYS_dup3, source, i, 0);
    }
  }
  if (result >= 0) result = raw_syscall(SYS_execve, (long)launch->file, (long)launch->argv, (long)launch->envp);
  if (launch->fd_count > LAUNCHER_ERROR_FD) child_report(result);
  raw_syscall(SYS_exit, 127, 0, 0);
  return 127;
}

#if defined(__x86_64__)
/*
 * clone3 for a child on a stack of its own: the system call returns in the
 * child on that stack, so it cannot return through C. The child calls
 * fn(arg) and exits with its result; the parent gets the pid or -errno.
 */
#define HAVE_CLONE3 1
__attribute__((visibility("hidden"))) long bistro_clone3(void *args, size_t size, int (*fn)(void *), void *arg);
__asm__(".text\n"
        ".globl bistro_clone3\n"
        ".hidden bistro_clone3\n"
        ".type bistro_clone3, @function\n"
        "bistro_clone3:\n"
        "  mov %rcx, %r8\n" /* arg: r8 survives the system call */
        "  mov $435, %eax\n" /* SYS_clone3 */
        "  syscall\n"
        "  test %rax, %rax\n"
        "  jz 1f\n"
        "  ret\n"
        "1:\n"
        "  xor %ebp, %ebp\n"
        "  and $-16, %rsp\n"
        "  mov %r8, %rdi\n"
        "  call *%rdx\n" /* rdx (fn) survives the system call too */
        "  mov %rax, %rdi\n"
        "  mov $60, %eax\n" /* SYS_exit */
        "  syscall\n"
        "  hlt\n"
        ".size bistro_clone3, .-bistro_clone3\n");

/* struct clone_args (linux/sched.h), version 2: the one with `cgroup`. */
struct clone3_arguments {
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size,
      cgroup;
};
#define CLONE_INTO_CGROUP_FLAG 0x200000000ULL

/*
 * clone3(CLONE_VM | CLONE_PIDFD | CLONE_INTO_CGROUP) of fn(arg) on `stack`, with every
 * signal blocked across it (the child starts with them blocked): the pid, or -errno.
 */
static long clone_into(void *stack, int *pidfd, int cgroup_fd, int (*fn)(void *), void *arg) {
  struct clone3_arguments arguments;
  memset(&arguments, 0, sizeof arguments);
  arguments.flags = CLONE_VM | CLONE_PIDFD | CLONE_INTO_CGROUP_FLAG;
  arguments.pidfd = (uint64_t)(uintptr_t)pidfd;
  arguments.exit_signal = SIGCHLD;
  arguments.stack = (uint64_t)(uintptr_t)stack;
  arguments.stack_size = CHILD_STACK_SIZE;
  arguments.cgroup = (uint64_t)cgroup_fd;
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &previous);
  long result = bistro_clone3(&arguments, sizeof arguments, fn, arg);
  pthread_sigmask(SIG_SETMASK, &previous, NULL);
  return result;
}
#endif

/* 1 if this build and kernel can start a child directly in a cgroup (clone3 with CLONE_INTO_CGROUP). */
static int clone_into_cgroup_supported(void) {
#ifdef HAVE_CLONE3
  static int supported = -1;
  if (supported < 0) {
    /* A too-small argument size is EINVAL where clone3 exists; ENOSYS (old kernel, seccomp) where not. */
    long result = syscall(SYS_clone3, NULL, (size_t)0);
    supported = result < 0 && errno == EINVAL;
  }
  return supported;
#else
  return 0;
#endif
}

/*
 * clone(CLONE_VM | CLONE_PIDFD): returns the pid and sets *pidfd, or -errno.
 * With a cgroup directory fd (>= 0), the child starts inside that cgroup v2
 * (clone3, CLONE_INTO_CGROUP): it never runs a moment outside it, and no
 * migration is needed (a write to cgroup.procs takes a lock that every fork
 * on the host waits on, and costs the kernel more than the clone itself).
 */
static pid_t clone_launch(launch_record *launch, int *pidfd, int cgroup_fd) {
  launch->stack = take_stack();
  if (!launch->stack) return -errno;
#ifdef HAVE_CLONE3
  if (cgroup_fd >= 0) return (pid_t)clone_into(launch->stack, pidfd, cgroup_fd, child_main, launch);
#else
  (void)cgroup_fd;
#endif
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &previous);
  pid_t pid = clone(child_main, (char *)launch->stack + CHILD_STACK_SIZE, CLONE_VM | CLONE_PIDFD | SIGCHLD,
                    launch, pidfd);
  int err = errno;
  pthread_sigmask(SIG_SETMASK, &previous, NULL);
  return pid < 0 ? -err : pid;
}
#else
/* The portable way: posix_spawn, which blocks until the child has exec'd. */
static pid_t posix_spawn_launch(launch_record *launch, int *pidfd) {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attributes;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attributes);
  int err = 0;
  for (int i = 0; i < launch->fd_count && !err; i++) {
    if (launch->fds[i] < 0) err = posix_spawn_file_actions_addopen(&actions, i, "/dev/null", O_RDWR, 0);
    else err = posix_spawn_file_actions_adddup2(&actions, launch->fds[i], i);
  }
  sigset_t empty, all;
  sigemptyset(&empty);
  sigfillset(&all);
  sigdelset(&all, SIGKILL);
  sigdelset(&all, SIGSTOP);
  if (!err) err = posix_spawnattr_setsigmask(&attributes, &empty);
  if (!err) err = posix_spawnattr_setsigdefault(&attributes, &all);
  if (!err) err = posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  if (!err) err = posix_spawn(&pid, launch->file, &actions, &attributes, launch->argv, launch->envp);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (err) return -err;
  launch->child_ran = 1; /* posix_spawn returns once the child has exec'd */
  *pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (*pidfd < 0) {
    /* Without a pidfd the child could never be reaped here: stop it rather than lose it. */
    err = errno;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -err;
  }
  return pid;
}
#endif

/*
 * The new process's start time as /proc/<pid>/stat shows it (field 22: the
 * boot-time clock at fork, in clock ticks), without reading /proc: the kernel
 * takes it inside the clone, so when the clock reads the same tick before
 * and after the clone, that tick is it. Reading /proc/<pid>/stat right after
 * the clone instead waits for the child's exec to let go of its locks.
 */
static long long boottime_ticks(void) {
  long hz = sysconf(_SC_CLK_TCK);
  long long ns_per_tick = hz > 0 ? 1000000000LL / hz : -1;
  struct timespec now;
  if (ns_per_tick <= 0 || clock_gettime(CLOCK_BOOTTIME, &now) != 0) return -1;
  return ((long long)now.tv_sec * 1000000000LL + now.tv_nsec) / ns_per_tick;
}

/* One launch on its way through the launch thread (spawn_thread.c). */
typedef struct {
  spawn_job base;
  launch_record *launch;
  int cgroup_fd;
  napi_ref on_started;
  napi_ref on_exit;
  pid_t pid; /* or -errno */
  int pidfd;
  long long start_ticks; /* -1 when unsure */
  double started_at_ms; /* the wall clock right after the clone, in epoch milliseconds */
} launch_job;

static napi_async_context launch_context;

/* On the launch thread. */
static void run_launch(spawn_job *base) {
  launch_job *job = (launch_job *)base;
  launch_record *launch = job->launch;
  long long before = boottime_ticks();
#ifdef HAVE_RAW_SYSCALLS
  job->pid = clone_launch(launch, &job->pidfd, job->cgroup_fd);
#else
  job->pid = job->cgroup_fd >= 0 ? -ENOSYS : posix_spawn_launch(launch, &job->pidfd);
#endif
  long long after = boottime_ticks();
  job->start_ticks = before >= 0 && before == after ? before : -1;
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  job->started_at_ms = (double)now.tv_sec * 1000.0 + (double)now.tv_nsec / 1e6;
  /* The child has its copy of the fd table: ours go now, so EOF means "every holder closed it". */
  for (int i = 0; i < launch->fd_count; i++)
    if (launch->fds[i] >= 0) close(launch->fds[i]);
  if (job->cgroup_fd >= 0) close(job->cgroup_fd);
}

/* Watches the child's exit; NULL (the child killed and reaped) if it cannot. */
static exit_watch *watch_exit(napi_env env, launch_job *job) {
  exit_watch *watch = calloc(1, sizeof *watch);
  uv_loop_t *loop = NULL;
  napi_get_uv_event_loop(env, &loop);
  if (!watch || uv_poll_init(loop, &watch->poll, job->pidfd) != 0) {
    /* Without a watch the child could never be reaped: stop it now rather than lose it. */
    kill(job->pid, SIGKILL);
    waitpid(job->pid, NULL, 0);
    close(job->pidfd);
    free(watch);
    return NULL;
  }
  watch->env = env;
  watch->pidfd = job->pidfd;
  watch->launch = job->launch;
  watch->callback = job->on_exit;
  napi_value resource_name;
  napi_create_string_utf8(env, "bistro:task-launcher", NAPI_AUTO_LENGTH, &resource_name);
  napi_async_init(env, NULL, resource_name, &watch->async_context);
  uv_poll_start(&watch->poll, UV_READABLE, on_pidfd_readable);
  return watch;
}

/* Back on the event loop: watch the child, then tell JavaScript. */
static void finish_launch(napi_env env, spawn_job *base) {
  launch_job *job = (launch_job *)base;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value on_started, argv[4];
  napi_get_reference_value(env, job->on_started, &on_started);
  napi_delete_reference(env, job->on_started);
  int err = job->pid < 0 ? (int)-job->pid : 0;
  if (!err && !watch_exit(env, job)) err = ENOMEM;
  if (err) {
    napi_delete_reference(env, job->on_exit);
    free_launch(job->launch);
    argv[0] = errno_error(env, "spawn", err);
    napi_get_undefined(env, &argv[1]);
    napi_get_undefined(env, &argv[2]);
    napi_get_undefined(env, &argv[3]);
  } else {
    napi_get_null(env, &argv[0]);
    napi_create_int32(env, job->pid, &argv[1]);
    napi_create_double(env, (double)job->start_ticks, &argv[2]);
    napi_create_double(env, job->started_at_ms, &argv[3]);
  }
  free(job);
  call_back(env, launch_context, on_started, 4, argv);
  napi_close_handle_scope(env, scope);
}

static int is_function(napi_env env, napi_value value) {
  napi_valuetype type;
  return napi_typeof(env, value, &type) == napi_ok && type == napi_function;
}

/*
 * spawnProcess(file, argv, env, fds, onStarted, onExit[, cgroupDir]). Child fd i gets fds[i]
 * (-1: /dev/null); the caller may close its fds as soon as this returns. The clone happens on
 * the launch thread (spawn_thread.c); onStarted(error, pid, startTicks, startedAtMs) runs on the event loop
 * once it did, then onExit(code, signal, ran) once the child is reaped. With `cgroupDir` (a
 * cgroup v2 directory), the child is cloned straight into it (ENOSYS where clone3 is missing).
 * The child keeps the launch thread's priority (the caller's) until its exec: until then it
 * shares our memory map, and a child preempted there would hold our mmap and munmap back.
 * Bad arguments throw; a failure to start arrives in onStarted.
 */
static napi_value spawn_process(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value args[7];
  napi_get_cb_info(env, info, &argc, args, NULL, NULL);
  if (argc < 6 || !is_function(env, args[4]) || !is_function(env, args[5])) {
    napi_throw_type_error(env, NULL, "spawnProcess(file, argv, env, fds, onStarted, onExit[, cgroupDir])");
    return NULL;
  }
  launch_record *launch = calloc(1, sizeof *launch);
  if (!launch) {
    throw_errno(env, "spawn", ENOMEM);
    return NULL;
  }
  size_t file_length = 0;
  if (napi_get_value_string_utf8(env, args[0], NULL, 0, &file_length) != napi_ok ||
      !(launch->file = malloc(file_length + 1))) {
    free(launch);
    napi_throw_type_error(env, NULL, "spawnProcess: file must be a string");
    return NULL;
  }
  napi_get_value_string_utf8(env, args[0], launch->file, file_length + 1, &file_length);
  uint32_t fd_count = 0;
  napi_get_array_length(env, args[3], &fd_count);
  if (fd_count > MAX_CHILD_FDS) {
    free_launch(launch);
    napi_throw_range_error(env, NULL, "spawnProcess: too many child fds");
    return NULL;
  }
  int sources[MAX_CHILD_FDS];
  for (uint32_t i = 0; i < fd_count; i++) {
    napi_value item;
    napi_get_element(env, args[3], i, &item);
    if (napi_get_value_int32(env, item, &sources[i]) != napi_ok) {
      free_launch(launch);
      napi_throw_type_error(env, NULL, "spawnProcess: fds must be numbers");
      return NULL;
    }
  }
  launch->argv = string_array(env, args[1], "spawnProcess: argv must be strings");
  if (launch->argv) launch->envp = string_array(env, args[2], "spawnProcess: env must be strings");
  if (!launch->argv || !launch->envp) {
    free_launch(launch);
    return NULL;
  }
  char cgroup_dir[4096];
  int into_cgroup = 0;
  if (argc >= 7) {
    napi_valuetype cgroup_type;
    napi_typeof(env, args[6], &cgroup_type);
    size_t length = 0;
    if (cgroup_type == napi_string) {
      if (napi_get_value_string_utf8(env, args[6], cgroup_dir, sizeof cgroup_dir, &length) != napi_ok ||
          length >= sizeof cgroup_dir - 1) {
        free_launch(launch);
        napi_throw_range_error(env, NULL, "spawnProcess: cgroupDir is too long");
        return NULL;
      }
      into_cgroup = 1;
    }
  }

  /*
   * Our own copies of the child's fds, above any the child gets (so no dup in the child
   * overwrites a source it still needs), kept until the clone: the caller may close its own.
   */
  int err = 0;
  for (uint32_t i = 0; i < fd_count; i++) {
    launch->fds[i] = -1;
    if (sources[i] >= 0 && !err && (launch->fds[i] = fcntl(sources[i], F_DUPFD_CLOEXEC, MAX_CHILD_FDS)) < 0)
      err = errno;
  }
  launch->fd_count = (int)fd_count;
  int cgroup_fd = -1;
  if (!err && into_cgroup) {
    if (!clone_into_cgroup_supported()) err = ENOSYS;
    else if ((cgroup_fd = open(cgroup_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) err = errno;
  }
  launch_job *job = err ? NULL : calloc(1, sizeof *job);
  if (!err && !job) err = ENOMEM;
  if (!err) {
    if (!launch_context) {
      napi_value resource_name;
      napi_create_string_utf8(env, "bistro:task-launch", NAPI_AUTO_LENGTH, &resource_name);
      napi_async_init(env, NULL, resource_name, &launch_context);
    }
    job->base.run = run_launch;
    job->base.done = finish_launch;
    job->launch = launch;
    job->cgroup_fd = cgroup_fd;
    job->pidfd = -1;
    napi_create_reference(env, args[4], 1, &job->on_started);
    napi_create_reference(env, args[5], 1, &job->on_exit);
    err = spawn_thread_submit(env, &job->base);
    if (err) {
      napi_delete_reference(env, job->on_started);
      napi_delete_reference(env, job->on_exit);
      free(job);
    }
  }
  if (err) {
    for (int i = 0; i < launch->fd_count; i++)
      if (launch->fds[i] >= 0) close(launch->fds[i]);
    if (cgroup_fd >= 0) close(cgroup_fd);
    free_launch(launch);
    throw_errno(env, "spawn", err);
  }
  return NULL;
}

#ifdef HAVE_CLONE3
static int probe_child(void *arg) {
  (void)arg;
  return 0;
}

/* Clones a child that exits at once into the cgroup `cgroup_fd`; how it ended, as probeStartInCgroup says. */
static const char *probe_clone_into(int cgroup_fd, char *buffer, size_t size) {
  void *stack = take_stack();
  if (!stack) {
    snprintf(buffer, size, "error %d", errno);
    return buffer;
  }
  int pidfd = -1;
  long result = clone_into(stack, &pidfd, cgroup_fd, probe_child, NULL);
  const char *answer = buffer;
  if (result < 0) {
    snprintf(buffer, size, "error %ld", -result);
  } else {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    int waited;
    do waited = waitid((idtype_t)P_PIDFD, (id_t)pidfd, &info, WEXITED);
    while (waited != 0 && errno == EINTR);
    if (waited != 0) snprintf(buffer, size, "error %d", errno);
    else if (info.si_code == CLD_EXITED && info.si_status == 0) answer = "started";
    else if (info.si_code == CLD_KILLED) answer = "killed";
    else snprintf(buffer, size, "error exit %d/%d", info.si_code, info.si_status);
    close(pidfd);
  }
  keep_stack(stack); /* only after the wait: the child ran on it */
  return answer;
}
#endif

/*
 * probeStartInCgroup(dir): what happens to a child cloned straight into the
 * cgroup v2 `dir` (clone3 with CLONE_INTO_CGROUP): "started", "killed" (the
 * kernel SIGKILLed it inside the clone), "unsupported" (no clone3 here), or
 * "error <errno>". Why ask: some kernels (6.18 does) compare the target
 * cgroup's count of cgroup.kill writes with the one of the parent's own
 * cgroup and kill the child when they differ; a supervisor uses the clone
 * only where a fresh cgroup of its slice passes this probe.
 */
static napi_value probe_start_in_cgroup(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value args[1];
  napi_get_cb_info(env, info, &argc, args, NULL, NULL);
  char dir[4096];
  size_t length = 0;
  if (argc < 1 || napi_get_value_string_utf8(env, args[0], dir, sizeof dir, &length) != napi_ok ||
      length >= sizeof dir - 1) {
    napi_throw_type_error(env, NULL, "probeStartInCgroup(dir): dir must be a path");
    return NULL;
  }
  char buffer[64];
  const char *answer = "unsupported";
#ifdef HAVE_CLONE3
  if (clone_into_cgroup_supported()) {
    int cgroup_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cgroup_fd < 0) {
      snprintf(buffer, sizeof buffer, "error %d", errno);
      answer = buffer;
    } else {
      answer = probe_clone_into(cgroup_fd, buffer, sizeof buffer);
      close(cgroup_fd);
    }
  }
#else
  (void)buffer;
#endif
  napi_value result;
  napi_create_string_utf8(env, answer, NAPI_AUTO_LENGTH, &result);
  return result;
}

napi_value register_spawn(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "probeStartInCgroup", NAPI_AUTO_LENGTH, probe_start_in_cgroup, NULL, &fn);
  napi_set_named_property(env, exports, "probeStartInCgroup", fn);
  napi_create_function(env, "spawnProcess", NAPI_AUTO_LENGTH, spawn_process, NULL, &fn);
  napi_set_named_property(env, exports, "spawnProcess", fn);
  return exports;
}
