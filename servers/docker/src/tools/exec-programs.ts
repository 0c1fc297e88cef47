/**
 * What the exec allowlist knows about programs. A list of dangerous programs can never be complete (the
 * audit found ionice, gosu, tini, ld-musl, busybox.static... missing from the first one), so the rule for
 * variable arguments is an allowlist: only programs on KNOWN_SAFE, or ones the operator vouches for with
 * `runsPrograms: false`, may be given arguments the caller chooses. The runner lists below are the second
 * line: they stop an operator from vouching for a known runner, and, under a rule for a vouched-for
 * program, refuse a caller's variable argument that names a shell, interpreter, loader or wrapper
 * (`ionice -c3 sh -c ...` had the operator vouched for a wrapper nobody here recognises).
 */

/**
 * Programs that never run another program or code named in their arguments: a `{ pattern }` or `rest`
 * for them can only vary what they read or print. Matched on argv[0]'s exact basename (`/bin/cat` is
 * `cat`; `cat.static` or `CAT` is not). Deliberately small: not `sort` (--compress-program), not `ip`
 * (`ip netns exec`), not `tar`, `find`, `sed` or `awk`.
 */
export const KNOWN_SAFE: ReadonlySet<string> = new Set([
  ...['cat', 'ls', 'echo', 'printf', 'head', 'tail', 'wc', 'grep', 'egrep', 'fgrep', 'sleep', 'seq'],
  ...['stat', 'du', 'df', 'date', 'id', 'whoami', 'hostname', 'uname', 'uptime', 'free', 'ps', 'pwd', 'nproc'],
  ...['basename', 'dirname', 'readlink', 'realpath', 'md5sum', 'sha1sum', 'sha256sum', 'sha512sum', 'cksum'],
  ...['true', 'false', 'getent', 'pg_isready'],
]);

/**
 * Shells, interpreters, multi-call binaries and wrappers that run the program or code they are given as
 * arguments. Matched on the normalised name (programName) anywhere a caller's variable argument sits,
 * and as argv[0].
 */
const EXECUTORS = new Set([
  // shells and multi-call binaries
  ...['sh', 'ash', 'bash', 'rbash', 'dash', 'ksh', 'mksh', 'pdksh', 'zsh', 'csh', 'tcsh', 'fish', 'yash', 'posh'],
  ...['elvish', 'nu', 'xonsh', 'pwsh', 'powershell', 'busybox', 'toybox', 'screen', 'tmux', 'rlwrap'],
  // interpreters and language runtimes
  ...['python', 'pypy', 'perl', 'ruby', 'irb', 'jruby', 'node', 'nodejs', 'deno', 'bun', 'php', 'php-cgi', 'lua'],
  ...['luajit', 'tclsh', 'wish', 'expect', 'java', 'jshell', 'groovy', 'scala', 'kotlin', 'erl', 'escript'],
  ...['elixir', 'iex', 'julia', 'r', 'rscript', 'octave', 'guile', 'racket', 'sbcl', 'clisp', 'ghci', 'runghc'],
  ...['ocaml', 'swipl', 'gawk', 'awk', 'mawk', 'nawk', 'sed', 'ed', 'ex', 'vi', 'vim', 'nvim', 'view', 'm4'],
  ...['gdb', 'lldb', 'valgrind', 'strace', 'ltrace', 'perf', 'bpftrace', 'ldd', 'catchsegv', 'make', 'gmake'],
  // wrappers: run the program named in their arguments, with other limits, privileges or namespaces
  ...['env', 'xargs', 'find', 'nice', 'ionice', 'chrt', 'taskset', 'numactl', 'prlimit', 'cpulimit', 'setarch'],
  ...['nohup', 'timeout', 'time', 'stdbuf', 'unbuffer', 'setsid', 'chroot', 'nsenter', 'unshare', 'setpriv'],
  ...['capsh', 'su', 'sudo', 'doas', 'pkexec', 'runuser', 'sg', 'newgrp', 'gosu', 'su-exec', 'setuidgid'],
  ...['chpst', 'runsv', 'tini', 'dumb-init', 'catatonit', 'start-stop-daemon', 'daemonize', 'run-parts'],
  ...['script', 'watch', 'flock', 'parallel', 'sem', 'entr', 'watchexec', 'nodemon', 'fakeroot', 'faketime'],
  ...['proot', 'bwrap', 'firejail', 'cgexec', 'envdir', 'softlimit', 'ssh-agent', 'dbus-launch', 'xvfb-run'],
  ...['dbus-run-session', 'linux32', 'linux64', 'socat', 'nc', 'ncat', 'netcat', 'npx', 'pnpx', 'bunx', 'uvx'],
  ...['pipx', 'yarn', 'npm', 'pnpm', 'uv'],
]);

/**
 * Programs whose own options run code or commands (`psql -c '\! sh'`, `git -c core.pager=...`, `tar
 * --to-command`, `ssh host cmd`, `wget --use-askpass`), or short names that are common words. They may
 * not have variable arguments; unlike EXECUTORS, a caller's argument naming one is not refused (`-h mysql`
 * is a common host name).
 */
const ARG_RUNNERS = new Set([
  ...['psql', 'mysql', 'mariadb', 'redis-cli', 'sqlite3', 'mongo', 'mongosh', 'cqlsh', 'kubectl', 'docker'],
  ...['podman', 'nerdctl', 'ctr', 'crictl', 'helm', 'lxc-attach', 'machinectl', 'git', 'tar', 'zip', 'unzip'],
  ...['rsync', 'ssh', 'scp', 'sftp', 'ftp', 'telnet', 'mail', 'mailx', 'jq', 'less', 'more', 'most', 'man'],
  ...['nano', 'emacs', 'sort', 'ip', 'openssl', 'wget', 'cmake', 'ninja', 'mvn', 'gradle', 'ant', 'crontab'],
  ...['rake', 'bundle', 'gem', 'pip', 'poetry', 'cargo', 'go', 'dotnet', 'composer', 'apk', 'apt', 'apt-get'],
  ...['dpkg', 'rpm', 'yum', 'dnf', 'zypper', 'pacman', 'nix', 'gcc', 'cc', 'clang', 'systemctl', 'service'],
  ...['supervisorctl', 'pm2', 'at', 'batch', 'rc', 'es'],
]);

/** Families matched by prefix: `s6-setuidgid`, `s6-envuidgid`, `systemd-run`, `systemd-nspawn`... */
const RUNNER_PREFIXES = ['s6-', 'systemd-'];

/** A dynamic loader (`ld-linux-x86-64.so.2`, `/lib/ld-musl-x86_64.so.1`, `ld.so`) or any shared object. */
const LOADER = /^ld(?:64)?(?:[-.]|$)|\.so(?:\.[0-9]+)*$/;

/** Build and version suffixes a program name may carry: `busybox.static`, `bash-static`, `python3.11-dbg`. */
const BUILD_SUFFIX = /[-_.](?:static|dbg|debug|bin|exe|real|orig|wrapper|dist)$/;
const VERSION_SUFFIX = /[-_.]?[0-9][0-9._-]*[a-z]?$/;

/** A path's last segment, lower case, build and version suffixes removed: `/usr/bin/Python3.11-dbg` is `python`. */
export function programName(path: string): string {
  let name = (path.split('/').pop() ?? path).toLowerCase();
  for (let previous = ''; previous !== name; ) {
    previous = name;
    name = name.replace(BUILD_SUFFIX, '').replace(VERSION_SUFFIX, '') || previous;
  }
  return name;
}

/** Whether `path` names a shell, interpreter, loader or wrapper that runs what its arguments name. */
export function isExecutor(path: string): boolean {
  const base = (path.split('/').pop() ?? path).toLowerCase();
  if (LOADER.test(base)) return true;
  const name = programName(path);
  return EXECUTORS.has(name) || RUNNER_PREFIXES.some((p) => name.startsWith(p));
}

/** Whether a rule for `argv0` could run code or other programs through its arguments. */
export function isRunner(argv0: string): boolean {
  return isExecutor(argv0) || ARG_RUNNERS.has(programName(argv0));
}

/** Whether `argv0` is on KNOWN_SAFE (exact basename). */
export function isKnownSafe(argv0: string): boolean {
  return KNOWN_SAFE.has(argv0.split('/').pop() ?? argv0);
}

/**
 * What a caller's variable argument names as a program, if it names an executor: the argument itself
 * (`sh`, `/lib/ld-musl-x86_64.so.1`) or an option's value (`--rsh=sh`), as its basename. Undefined when
 * it names none.
 */
export function executorNamedBy(arg: string): string | undefined {
  const eq = arg.indexOf('=');
  for (const candidate of eq >= 0 ? [arg, arg.slice(eq + 1)] : [arg]) {
    if (candidate !== '' && isExecutor(candidate)) return (candidate.split('/').pop() ?? candidate).slice(0, 100);
  }
  return undefined;
}
