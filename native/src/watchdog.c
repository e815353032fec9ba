/*
 * bistro-watchdog: kills a worker's tasks when the worker cannot.
 *
 * A worker (a scheduler with --database runs its own tasks as one) may run
 * tasks only while it holds its lease. When its event loop stalls or its
 * process is stopped, it can no longer kill them itself when the lease
 * runs out, yet the leader will declare it lost and run its tasks again.
 * This small process, in its own session, outside the worker's event loop,
 * does it instead.
 *
 * Protocol: lines on stdin, from the worker.
 *   arm <ms>       the lease deadline, in CLOCK_BOOTTIME milliseconds (sent
 *                  after each successful renewal); answered "ack <ms>" on stdout
 *   disarm         the worker killed its tasks itself (lease lost): empty the
 *                  task cgroups now, then wait unarmed; answered "ack 0"
 *   cgroup <dir>   a cgroup sub-tree that holds only this worker's tasks
 *   pgid +<n>|-<n> a task's process group appears or ends
 *   stop           the worker stops cleanly (its tasks are gone): exit 0
 * With --pgid-fd N, the pgid lines come on that pipe instead, which the
 * watchdog does not wait on: a task's start or end must not wake it (a
 * context switch into this process for every start and end). It reads
 * the pipe whenever it wakes anyway (a command, at least once a second) and
 * always to its end before it fires, so every group the worker reported
 * before it froze or died is killed.
 * At an armed deadline, or when stdin ends without "stop" (the worker
 * died), it fires: SIGKILL to the worker (if it is still its parent), to
 * every task process group, and to every process in the cgroup sub-trees
 * until they are empty (at most 10 s), then exits 1. It never un-fires.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_CGROUPS 64
#define MAX_PGIDS 65536
#define SWEEP_LIMIT_MS 10000
/* How often the pgid pipe is read when nothing else wakes the watchdog. */
#define PGID_DRAIN_MS 1000
/* The pgid pipe's size, if the kernel allows: seconds of a busy worker's reports. */
#define PGID_PIPE_BYTES (1 << 20)

static char *cgroups[MAX_CGROUPS];
static int cgroup_count = 0;
static pid_t pgids[MAX_PGIDS];
static int pgid_count = 0;
static pid_t worker_pid = 0;
static int pgid_fd = -1;
static char pgid_buf[4096];
static size_t pgid_used = 0;

static long long boottime_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void add_cgroup(const char *dir) {
  for (int i = 0; i < cgroup_count; i++)
    if (strcmp(cgroups[i], dir) == 0) return;
  if (cgroup_count < MAX_CGROUPS) cgroups[cgroup_count++] = strdup(dir);
}

static void add_pgid(pid_t pgid) {
  if (pgid > 1 && pgid_count < MAX_PGIDS) pgids[pgid_count++] = pgid;
}

static void remove_pgid(pid_t pgid) {
  for (int i = 0; i < pgid_count; i++) {
    if (pgids[i] == pgid) {
      pgids[i] = pgids[--pgid_count];
      return;
    }
  }
}

static void handle_pgid_line(const char *line) {
  if (strncmp(line, "pgid +", 6) == 0) {
    add_pgid((pid_t)atol(line + 6));
  } else if (strncmp(line, "pgid -", 6) == 0) {
    remove_pgid((pid_t)atol(line + 6));
  }
}

/* Reads the pgid pipe (non-blocking) to its current end. */
static void drain_pgids(void) {
  while (pgid_fd >= 0) {
    ssize_t n = read(pgid_fd, pgid_buf + pgid_used, sizeof pgid_buf - 1 - pgid_used);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) {
      /* The worker closed it (or it failed): nothing more will come. */
      close(pgid_fd);
      pgid_fd = -1;
      return;
    }
    pgid_used += (size_t)n;
    pgid_buf[pgid_used] = '\0';
    char *start = pgid_buf;
    char *newline;
    while ((newline = strchr(start, '\n')) != NULL) {
      *newline = '\0';
      handle_pgid_line(start);
      start = newline + 1;
    }
    pgid_used = (size_t)(pgid_buf + pgid_used - start);
    memmove(pgid_buf, start, pgid_used);
    if (pgid_used == sizeof pgid_buf - 1) pgid_used = 0; /* an overlong line: drop it */
  }
}

/* SIGKILLs every process listed in dir/cgroup.procs and below; returns how many were found. */
static int kill_cgroup_tree(const char *dir, int depth) {
  if (depth > 32) return 0;
  int found = 0;
  char path[PATH_MAX];
  /* cgroup v2 (Linux 5.14+) kills the whole sub-tree at once. */
  snprintf(path, sizeof path, "%s/cgroup.kill", dir);
  int kfd = open(path, O_WRONLY | O_CLOEXEC);
  if (kfd >= 0) {
    ssize_t ignored = write(kfd, "1", 1);
    (void)ignored;
    close(kfd);
  }
  snprintf(path, sizeof path, "%s/cgroup.procs", dir);
  FILE *procs = fopen(path, "re");
  if (procs) {
    long pid;
    while (fscanf(procs, "%ld", &pid) == 1) {
      if (pid > 1 && pid != getpid()) {
        kill((pid_t)pid, SIGKILL);
        found++;
      }
    }
    fclose(procs);
  }
  DIR *d = opendir(dir);
  if (!d) return found;
  struct dirent *entry;
  while ((entry = readdir(d)) != NULL) {
    if (entry->d_type != DT_DIR || entry->d_name[0] == '.') continue;
    snprintf(path, sizeof path, "%s/%s", dir, entry->d_name);
    found += kill_cgroup_tree(path, depth + 1);
  }
  closedir(d);
  return found;
}

static void sweep_tasks(void) {
  drain_pgids();
  for (int i = 0; i < pgid_count; i++) kill(-pgids[i], SIGKILL);
  long long until = boottime_ms() + SWEEP_LIMIT_MS;
  for (;;) {
    int found = 0;
    for (int i = 0; i < cgroup_count; i++) found += kill_cgroup_tree(cgroups[i], 0);
    if (found == 0 || boottime_ms() > until) return;
    struct timespec pause = {0, 20 * 1000000};
    nanosleep(&pause, NULL);
  }
}

static void fire(const char *why) {
  fprintf(stderr, "bistro-watchdog: firing (%s)\n", why);
  /* Only the worker that started us: after its death we are someone else's child. */
  if (worker_pid > 1 && getppid() == worker_pid) kill(worker_pid, SIGKILL);
  sweep_tasks();
  _exit(1);
}

static void reply(long long value) {
  char buf[64];
  int n = snprintf(buf, sizeof buf, "ack %lld\n", value);
  ssize_t ignored = write(STDOUT_FILENO, buf, (size_t)n);
  (void)ignored;
}

static void handle_line(char *line, long long *deadline) {
  if (strncmp(line, "arm ", 4) == 0) {
    *deadline = atoll(line + 4);
    reply(*deadline);
  } else if (strcmp(line, "disarm") == 0) {
    *deadline = 0;
    sweep_tasks();
    reply(0);
  } else if (strncmp(line, "cgroup ", 7) == 0) {
    add_cgroup(line + 7);
  } else if (strncmp(line, "pgid ", 5) == 0) {
    handle_pgid_line(line);
  } else if (strcmp(line, "stop") == 0) {
    _exit(0);
  }
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--worker-pid") == 0 && i + 1 < argc) {
      worker_pid = (pid_t)atol(argv[++i]);
    } else if (strcmp(argv[i], "--cgroup") == 0 && i + 1 < argc) {
      add_cgroup(argv[++i]);
    } else if (strcmp(argv[i], "--pgid-fd") == 0 && i + 1 < argc) {
      pgid_fd = atoi(argv[++i]);
    } else {
      fprintf(stderr, "usage: bistro-watchdog --worker-pid PID [--cgroup DIR]... [--pgid-fd N]\n");
      return 2;
    }
  }
  if (pgid_fd >= 0) {
    int flags = fcntl(pgid_fd, F_GETFL);
    if (flags < 0 || fcntl(pgid_fd, F_SETFL, flags | O_NONBLOCK) < 0) {
      fprintf(stderr, "bistro-watchdog: --pgid-fd %d is not open\n", pgid_fd);
      return 2;
    }
    (void)fcntl(pgid_fd, F_SETPIPE_SZ, PGID_PIPE_BYTES);
  }
  setsid();
  signal(SIGPIPE, SIG_IGN);
  /* A terminal's or the worker's group signals must not end the watchdog before it acts. */
  signal(SIGINT, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  long long deadline = 0;
  char buf[8192];
  size_t used = 0;
  for (;;) {
    drain_pgids();
    int timeout = pgid_fd >= 0 ? PGID_DRAIN_MS : -1;
    if (deadline > 0) {
      long long left = deadline - boottime_ms();
      if (left <= 0) fire("lease deadline passed");
      if (timeout < 0 || left < timeout) timeout = left > INT_MAX ? INT_MAX : (int)left;
    }
    struct pollfd pfd = {STDIN_FILENO, POLLIN, 0};
    int ready = poll(&pfd, 1, timeout);
    if (ready < 0) {
      if (errno == EINTR) continue;
      fire("poll failed");
    }
    if (ready == 0) continue; /* the deadline check above fires */
    ssize_t n = read(STDIN_FILENO, buf + used, sizeof buf - 1 - used);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fire("the worker is gone");
    used += (size_t)n;
    buf[used] = '\0';
    char *start = buf;
    char *newline;
    while ((newline = strchr(start, '\n')) != NULL) {
      *newline = '\0';
      handle_line(start, &deadline);
      start = newline + 1;
    }
    used = (size_t)(buf + used - start);
    memmove(buf, start, used);
    if (used == sizeof buf - 1) used = 0; /* an overlong line: drop it */
  }
}
