/*
 * task-launcher: the few steps between fork and exec that Node cannot do.
 *
 * The supervisor never spawns a task directly; it spawns this program,
 * which performs, in this order, then execs the task:
 *   0. with --nice, take the tasks' nice value (the supervisor's clone leaves
 *      the launcher at the supervisor's own, boosted, priority until here:
 *      before its exec it shares the supervisor's memory, and must not be
 *      preempted there by the tasks);
 *   1. join the task's cgroups (writes its own pid to each cgroup.procs), so
 *      no descendant can be born outside them;
 *   2. with --pid-namespace, unshare a PID namespace; a forked child becomes
 *      the namespace's init and runs the task as its own child;
 *   3. with --setpgid, become a process-group leader in the supervisor's
 *      session (as the original's setpgrp; a session of its own would, with
 *      the kernel's autogroups, weigh as much as the whole supervisor);
 *   4. with --pdeathsig, set the parent-death signal, then check that the
 *      parent is still the supervisor (--parent-pid) and exit at once if not
 *      (the supervisor may have died before the prctl);
 *   5. reset the signal mask and dispositions; close every fd except 0-2,
 *      the error pipe and the --keep-fd ones;
 *   6. chdir and exec.
 * Any failure is written to the error pipe (fd 3, close-on-exec) as
 * "<step> <errno> <message>\n" and the launcher exits 127. A successful exec
 * closes the pipe, so the supervisor reads EOF with no failure line. With a
 * PID namespace the pipe also carries "init <pid>": the namespace's init as
 * seen from outside, whose end means the namespace is empty.
 *
 * Guarantees: the task is in its cgroups before it runs a single
 * instruction of its own; it is never left running after the supervisor
 * died during the launch. Limits: the parent-death signal reaches only the
 * task's main process (or, with a PID namespace, its init, whose death the
 * kernel turns into SIGKILL for everything in the namespace).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define ERROR_FD 3
#define MAX_LIST 64

static void fail(const char *step, int err) {
  char buf[512];
  int n = snprintf(buf, sizeof buf, "%s %d %s\n", step, err, strerror(err));
  if (n > 0) {
    ssize_t ignored = write(ERROR_FD, buf, (size_t)n);
    (void)ignored;
  }
  _exit(127);
}

static void usage(const char *why) {
  fprintf(stderr, "task-launcher: %s\n", why);
  fail("arguments", EINVAL);
}

static void join_cgroup(const char *procs_path) {
  int fd = open(procs_path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) fail("cgroup", errno);
  /* "0" means the writing process itself. */
  if (write(fd, "0", 1) != 1) {
    int err = errno;
    close(fd);
    fail("cgroup", err);
  }
  close(fd);
}

static void reset_signals(void) {
  sigset_t empty;
  sigemptyset(&empty);
  if (sigprocmask(SIG_SETMASK, &empty, NULL) != 0) fail("signals", errno);
  for (int sig = 1; sig < NSIG; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    signal(sig, SIG_DFL); /* fails harmlessly for the signals glibc reserves */
  }
}

static int is_kept(int fd, const int *keep, int keep_count) {
  if (fd <= 2 || fd == ERROR_FD) return 1;
  for (int i = 0; i < keep_count; i++)
    if (keep[i] == fd) return 1;
  return 0;
}

static void close_other_fds(const int *keep, int keep_count) {
  DIR *dir = opendir("/proc/self/fd");
  if (!dir) fail("close-fds", errno);
  int dir_fd = dirfd(dir);
  int to_close[4096];
  int count = 0;
  struct dirent *entry;
  while ((entry = readdir(dir)) != NULL && count < 4096) {
    if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
    int fd = atoi(entry->d_name);
    if (fd != dir_fd && !is_kept(fd, keep, keep_count)) to_close[count++] = fd;
  }
  closedir(dir);
  for (int i = 0; i < count; i++) close(to_close[i]);
}

static volatile sig_atomic_t forward_to = 0;

static void forward_signal(int sig) {
  if (forward_to > 0) kill(forward_to, sig);
}

/* Waits for `child`, forwarding catchable signals to it; returns its wait status. */
static int wait_forwarding(pid_t child, int reap_all) {
  forward_to = child;
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = forward_signal;
  sigemptyset(&action.sa_mask);
  for (int sig = 1; sig < 32; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP || sig == SIGCHLD) continue;
    sigaction(sig, &action, NULL);
  }
  int child_status = 0;
  for (;;) {
    int status;
    pid_t pid = waitpid(reap_all ? -1 : child, &status, 0);
    if (pid < 0) {
      if (errno == EINTR) continue;
      break; /* no children left */
    }
    if (pid == child) {
      child_status = status;
      if (!reap_all) break;
      /* As init: the task is done; returning lets the kernel kill the rest. */
      break;
    }
  }
  return child_status;
}

static void exit_like(int status) {
  if (WIFEXITED(status)) _exit(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    signal(sig, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    kill(getpid(), sig);
  }
  _exit(128);
}

int main(int argc, char **argv) {
  /* The error pipe must vanish at exec, so success reads as EOF. */
  if (fcntl(ERROR_FD, F_SETFD, FD_CLOEXEC) != 0) _exit(126);

  const char *cgroups[MAX_LIST];
  int cgroup_count = 0;
  int keep[MAX_LIST];
  int keep_count = 0;
  int pid_namespace = 0;
  int do_setpgid = 0;
  int pdeathsig = 0;
  int nice_value = 0;
  int set_nice = 0;
  long parent_pid = 0;
  const char *cwd = NULL;
  int i = 1;
  for (; i < argc; i++) {
    const char *arg = argv[i];
    if (strcmp(arg, "--") == 0) {
      i++;
      break;
    } else if (strcmp(arg, "--cgroup-procs") == 0 && i + 1 < argc) {
      if (cgroup_count == MAX_LIST) usage("too many --cgroup-procs");
      cgroups[cgroup_count++] = argv[++i];
    } else if (strcmp(arg, "--keep-fd") == 0 && i + 1 < argc) {
      if (keep_count == MAX_LIST) usage("too many --keep-fd");
      keep[keep_count++] = atoi(argv[++i]);
    } else if (strcmp(arg, "--pid-namespace") == 0) {
      pid_namespace = 1;
    } else if (strcmp(arg, "--setpgid") == 0) {
      do_setpgid = 1;
    } else if (strcmp(arg, "--pdeathsig") == 0 && i + 1 < argc) {
      pdeathsig = atoi(argv[++i]);
    } else if (strcmp(arg, "--parent-pid") == 0 && i + 1 < argc) {
      parent_pid = atol(argv[++i]);
    } else if (strcmp(arg, "--nice") == 0 && i + 1 < argc) {
      nice_value = atoi(argv[++i]);
      set_nice = 1;
    } else if (strcmp(arg, "--cwd") == 0 && i + 1 < argc) {
      cwd = argv[++i];
    } else {
      usage("unknown argument");
    }
  }
  if (i >= argc) usage("missing command after --");
  char **command = &argv[i];

  /* 0. no longer ahead of the supervisor, nor of the tasks. */
  if (set_nice && setpriority(PRIO_PROCESS, 0, nice_value) != 0) fail("nice", errno);

  /* 1. cgroups first: everything from here on, and every descendant, is inside. */
  for (int c = 0; c < cgroup_count; c++) join_cgroup(cgroups[c]);

  /* 3 before 2: the group leader is the process the supervisor watches. */
  if (do_setpgid && setpgid(0, 0) < 0) fail("setpgid", errno);

  /* 4. parent-death signal, then close the race with an early parent death. */
  if (pdeathsig > 0) {
    if (prctl(PR_SET_PDEATHSIG, pdeathsig) != 0) fail("pdeathsig", errno);
    if (parent_pid > 0 && getppid() != (pid_t)parent_pid) fail("parent-died", ESRCH);
  }

  /* 5. a clean slate for the task. */
  reset_signals();
  close_other_fds(keep, keep_count);

  if (cwd && chdir(cwd) != 0) fail("chdir", errno);

  /* 2. PID namespace: this process stays outside as the supervisor's child; a
   * child becomes the namespace's init, and the task runs as init's child. */
  if (pid_namespace) {
    if (unshare(CLONE_NEWPID) != 0) fail("pid-namespace", errno);
    pid_t init = fork();
    if (init < 0) fail("pid-namespace", errno);
    if (init > 0) {
      /* Outside: tell the supervisor init's pid (it waits for init to be gone, which
       * means the whole namespace is gone), then close our copy of the error pipe so
       * only the task's exec closes the last one. */
      dprintf(ERROR_FD, "init %d\n", (int)init);
      close(ERROR_FD);
      exit_like(wait_forwarding(init, 0));
    }
    /* Inside, as pid 1: die with the launcher, so the whole namespace dies. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail("pid-namespace", errno);
    pid_t task = fork();
    if (task < 0) fail("pid-namespace", errno);
    if (task > 0) {
      close(ERROR_FD);
      /* init: reap every orphan, forward signals to the task, exit with its status. */
      exit_like(wait_forwarding(task, 1));
    }
    reset_signals();
  }

  /* 6. exec; PATH is searched only for a bare name. */
  if (strchr(command[0], '/')) execv(command[0], command);
  else execvp(command[0], command);
  fail("exec", errno);
  return 127;
}
