/**
 * Extra hosts for tests: a network namespace each, joined to this host by a
 * veth pair (10.231.N.1 on the host side, 10.231.N.2 inside). PostgreSQL
 * listens on the host side; a worker started with `prefix` runs inside.
 * `partition()` takes the host side of the link down, `heal()` brings it
 * back. Needs root and `ip`; `destroy()` removes the namespace and its link.
 */
import { execFileSync } from 'node:child_process';

/** Why namespaces cannot be made here, or undefined. */
export function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'ignore' });
  } catch {
    return 'the ip command (iproute2) is missing';
  }
  return undefined;
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

let created = 0;

export class NetworkHost {
  private constructor(
    readonly name: string,
    readonly hostDev: string,
    readonly hostAddress: string,
  ) {}

  /** A namespace whose only link leads to this host. */
  static create(): NetworkHost {
    const index = (process.pid % 200) + created++;
    const tag = `${process.pid % 10000}x${created}`;
    const name = `bistro-t${tag}`;
    const hostDev = `bh${tag}`;
    const nsDev = `bn${tag}`;
    const subnet = `10.231.${index % 250}`;
    ip('netns', 'add', name);
    const host = new NetworkHost(name, hostDev, `${subnet}.1`);
    try {
      ip('link', 'add', hostDev, 'type', 'veth', 'peer', 'name', nsDev);
      ip('link', 'set', nsDev, 'netns', name);
      ip('addr', 'add', `${subnet}.1/30`, 'dev', hostDev);
      ip('link', 'set', hostDev, 'up');
      ip('netns', 'exec', name, 'ip', 'addr', 'add', `${subnet}.2/30`, 'dev', nsDev);
      ip('netns', 'exec', name, 'ip', 'link', 'set', nsDev, 'up');
      ip('netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up');
    } catch (error) {
      host.destroy();
      throw error;
    }
    return host;
  }

  /**
   * Runs a command inside, under host name `hostName` (its own UTS namespace):
   * `[...prefix(h), command, ...args]`. Every step execs, so the pid is the command's.
   */
  prefix(hostName: string): string[] {
    // nsenter, not `ip netns exec`: that remounts /sys, hiding the cgroup mounts a worker needs.
    return [
      'nsenter',
      `--net=/run/netns/${this.name}`,
      'unshare',
      '--uts',
      'sh',
      '-c',
      'hostname "$0" && exec "$@"',
      hostName,
    ];
  }

  /** Cuts the link both ways. */
  partition(): void {
    ip('link', 'set', this.hostDev, 'down');
  }

  heal(): void {
    ip('link', 'set', this.hostDev, 'up');
  }

  destroy(): void {
    try {
      ip('link', 'del', this.hostDev);
    } catch {
      // gone with the namespace, or never made
    }
    try {
      ip('netns', 'del', this.name);
    } catch {
      // never made
    }
  }
}
