#!/usr/bin/env python3
"""test_shipping.py — what ships is what the code does.

No Docker engine runs in CI, so the Docker files are held to the sources
instead:

  * the Dockerfile installs packages only through docker/install-deps.sh
    with the shared lists (deps-build.txt in the build stage, the same list
    `make deps-build` uses; deps-runtime.txt in the runtime stage), runs as
    a non-root user, has a HEALTHCHECK and the entry point;
  * the runtime list holds the package of every shared library the
    binaries link directly;
  * docker/compose.yaml parses, has redis (AOF everysec, noeviction, a
    named volume, a ping health check), api and worker (replicas 2) with
    health checks and depends_on conditions, and sets only JOBQ_*
    variables that the --help of the binary the service runs names;
  * --version of both binaries is `git describe --tags --always --dirty`.

api/openapi.yaml is held to the server: the route table of
api/handlers.c, and for each route the statuses, error codes and query
parameters found by walking the handler's calls through api/*.c (parsed
here), both ways; then a real jobq-api (and a worker) on a redis-server in
a temporary directory is made to answer each status that is cheap to
provoke, and each answer must be in the spec.

Prints one line per check and a closing "N passed, N failed"; exits 1 when
anything failed. Stops what it starts, by PID.
"""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, os.environ.get("JOBQ_TEST_BIN_DIR", "bin"))
SHOW_LOGS = os.environ.get("JOBQ_TEST_SHOW_LOGS") == "1"

passed = 0
failed = 0


def check(name, fn, *args):
    """check runs fn(*args); an exception fails the check named name."""
    global passed, failed
    try:
        fn(*args)
    except Exception as e:  # noqa: BLE001 - every failure is reported alike
        failed += 1
        print(f"FAIL {name}\n     {type(e).__name__ if not isinstance(e, AssertionError) else ''}{e}")
        return False
    passed += 1
    print(f"ok   {name}")
    return True


def path(*parts):
    return os.path.join(ROOT, *parts)


def read(*parts):
    with open(path(*parts), encoding="utf-8") as f:
        return f.read()


# ==== Docker files ===========================================================

def dep_list(name):
    """dep_list returns the packages of docker/<name> (as install-deps.sh
    reads it: words of lines that are not comments)."""
    pkgs = []
    for line in read("docker", name).splitlines():
        if re.match(r"^\s*#", line):
            continue
        pkgs.extend(line.split())
    return pkgs


def dockerfile_stages():
    """dockerfile_stages returns [(image, stage_name, [(INSTR, args)])],
    continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", "\n".join(
        l for l in read("docker", "Dockerfile").splitlines() if not l.lstrip().startswith("#")))
    stages = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        instr, _, args = line.partition(" ")
        instr = instr.upper()
        if instr == "FROM":
            m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?", args.strip(), re.I)
            stages.append((m.group(1), m.group(2), []))
        elif stages:
            stages[-1][2].append((instr, args.strip()))
    return stages


APT_INSTALL = re.compile(r"\b(apt-get|apt|aptitude)\s+(-\S+\s+)*install\b|\bdpkg\s+-i\b|\bpip3?\s+install\b")


def test_lists_are_sane():
    for name in ("deps-build.txt", "deps-test.txt", "deps-runtime.txt"):
        pkgs = dep_list(name)
        assert pkgs, f"{name} is empty"
        dups = {p for p in pkgs if pkgs.count(p) > 1}
        assert not dups, f"{name} names {sorted(dups)} twice"
        bad = [p for p in pkgs if not re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", p)]
        assert not bad, f"{name}: not Debian package names: {bad}"
    for p in ("python3", "python3-yaml", "curl"):
        assert p in dep_list("deps-test.txt"), f"deps-test.txt lacks {p}"
    assert "curl" in dep_list("deps-runtime.txt"), "the runtime image needs curl for its health check"


def test_runtime_list_known_to_apt():
    missing = []
    for p in dep_list("deps-runtime.txt") + dep_list("deps-build.txt"):
        r = subprocess.run(["apt-cache", "show", p], capture_output=True, text=True)
        if r.returncode != 0 or f"Package: {p}" not in r.stdout:
            missing.append(p)
    assert not missing, f"apt knows no such package(s): {missing}"


def test_makefile_shares_the_lists():
    mk = read("Makefile")
    m = re.search(r"^DEP_LISTS\s*:?=\s*(.*)$", mk, re.M)
    assert m and set(m.group(1).split()) == {"docker/deps-build.txt", "docker/deps-test.txt"}, \
        "DEP_LISTS must be docker/deps-build.txt docker/deps-test.txt"
    m = re.search(r"^deps-build:.*\n((?:\t.*\n)+)", mk, re.M)
    assert m, "the Makefile has no deps-build target"
    assert re.search(r"install-deps\.sh\s+docker/deps-build\.txt\s*$", m.group(1), re.M), \
        "make deps-build must run docker/install-deps.sh docker/deps-build.txt"


def test_dockerfile_installs_only_from_lists():
    stages = dockerfile_stages()
    assert [s[0] for s in stages] == ["debian:bookworm-slim"] * 2, \
        f"two stages on debian:bookworm-slim expected, found {[s[0] for s in stages]}"
    expected = {0: "deps-build.txt", 1: "deps-runtime.txt"}
    for i, (image, name, instrs) in enumerate(stages):
        runs = [a for ins, a in instrs if ins == "RUN"]
        for r in runs:
            assert not APT_INSTALL.search(r), f"stage {name}: installs packages inline: {r!r}"
        installs = re.findall(r"install-deps\.sh\s+(\S+)", " ".join(runs))
        lists = {os.path.basename(x) for x in installs}
        assert lists == {expected[i]}, \
            f"stage {name}: install-deps.sh must install exactly {expected[i]}, installs {sorted(lists)}"
        copies = " ".join(a for ins, a in instrs if ins == "COPY" and "--from" not in a)
        for f in ("docker/install-deps.sh", "docker/" + expected[i]):
            assert f in copies, f"stage {name}: {f} is not copied in"
    build_runs = " ".join(a for ins, a in stages[0][2] if ins == "RUN")
    assert re.search(r"\bmake deps-build\b", build_runs), "the build stage must run `make deps-build`"
    assert re.search(r"\bmake\b(?! deps| clean)", build_runs), "the build stage must run `make`"


def test_runtime_stage_shape():
    image, name, instrs = dockerfile_stages()[1]
    users = [a for ins, a in instrs if ins == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), f"the image must not run as root: USER {users}"
    hc = [a for ins, a in instrs if ins == "HEALTHCHECK"]
    assert hc and "healthcheck" in hc[-1], "HEALTHCHECK must run the entry point's healthcheck"
    assert "/healthz" in read("docker", "entrypoint.sh"), "the entry point's healthcheck must GET /healthz"
    ep = [a for ins, a in instrs if ins == "ENTRYPOINT"]
    assert ep, "no ENTRYPOINT"
    ep_path = json.loads(ep[-1])[0]
    copies = [a for ins, a in instrs if ins == "COPY"]
    assert any("docker/entrypoint.sh" in c and c.split()[-1] == ep_path for c in copies), \
        f"docker/entrypoint.sh is not copied to {ep_path}"
    assert any("--from=build" in c and "jobq-api" in c and "jobq-worker" in c and
               c.split()[-1].rstrip("/") == "/usr/local/bin" for c in copies), \
        "both binaries must be copied from the build stage to /usr/local/bin/"
    entry = read("docker", "entrypoint.sh")
    for role, binary in (("api", "jobq-api"), ("worker", "jobq-worker")):
        assert re.search(rf"^{role}\)\s*exec /usr/local/bin/{binary} \"\$@\"", entry, re.M), \
            f"entrypoint.sh does not exec {binary} for `{role}`"
    r = subprocess.run(["sh", "-n", path("docker", "entrypoint.sh")], capture_output=True, text=True)
    assert r.returncode == 0, f"entrypoint.sh: {r.stderr}"
    env = " ".join(a for ins, a in instrs if ins == "ENV")
    unknown = set(re.findall(r"JOBQ_\w+", env)) - help_vars("jobq-api")
    assert not unknown, f"the Dockerfile sets {sorted(unknown)}, which jobq-api --help does not name"


SAN_LIBS = ("libasan", "libubsan", "libtsan", "liblsan")
BASE_PACKAGES = {"libc6", "libgcc-s1"}  # in debian:bookworm-slim already


def needed_packages(binary):
    """needed_packages maps each directly linked library of binary to its
    Debian package (through ldd's path and dpkg -S)."""
    out = subprocess.run(["readelf", "-d", binary], capture_output=True, text=True, check=True).stdout
    needed = re.findall(r"\(NEEDED\).*\[(.+)\]", out)
    paths = dict(re.findall(r"^\s*(\S+) => (\S+)", subprocess.run(
        ["ldd", binary], capture_output=True, text=True, check=True).stdout, re.M))
    pkgs = {}
    for so in needed:
        if so.startswith(SAN_LIBS):
            continue
        p = paths.get(so)
        assert p, f"{binary}: ldd does not resolve {so}"
        real = os.path.realpath(p)
        r = subprocess.run(["dpkg", "-S", real], capture_output=True, text=True)
        if r.returncode != 0:
            r = subprocess.run(["dpkg", "-S", p], capture_output=True, text=True)
        assert r.returncode == 0, f"no package owns {p}"
        pkgs[so] = r.stdout.split(":")[0].strip()
    return pkgs


def test_runtime_list_covers_libraries():
    runtime = set(dep_list("deps-runtime.txt")) | BASE_PACKAGES
    for b in ("jobq-api", "jobq-worker"):
        pkgs = needed_packages(os.path.join(BIN, b))
        missing = {so: p for so, p in pkgs.items() if p not in runtime}
        assert not missing, f"{b} links libraries whose packages deps-runtime.txt lacks: {missing}"


_help_cache = {}


def help_vars(binary):
    """help_vars returns the JOBQ_* names binary --help prints."""
    if binary not in _help_cache:
        r = subprocess.run([os.path.join(BIN, binary), "--help"], capture_output=True, text=True, timeout=10)
        assert r.returncode == 0, f"{binary} --help exited {r.returncode}"
        _help_cache[binary] = set(re.findall(r"JOBQ_\w+", r.stdout + r.stderr))
    return _help_cache[binary]


def compose():
    with open(path("docker", "compose.yaml"), encoding="utf-8") as f:
        return yaml.safe_load(f)


def env_of(svc):
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) for e in env)
    return {k: str(v) for k, v in env.items()}


def depends_healthy(svc, on):
    dep = (svc.get("depends_on") or {}).get(on) or {}
    return dep.get("condition") == "service_healthy"


def test_compose_redis():
    c = compose()
    assert {"redis", "api", "worker"} <= set(c["services"]), f"services: {sorted(c['services'])}"
    r = c["services"]["redis"]
    cmd = r["command"]
    cmd = " ".join(cmd) if isinstance(cmd, list) else cmd
    assert "redis" in r.get("image", ""), "redis must run a Redis image"
    for want in (r"--appendonly\s+yes", r"--appendfsync\s+everysec", r"--maxmemory-policy\s+noeviction"):
        assert re.search(want, cmd), f"redis command lacks {want}: {cmd}"
    vols = [v.split(":")[0] if isinstance(v, str) else v.get("source") for v in r.get("volumes", [])]
    named = [v for v in vols if v in (c.get("volumes") or {})]
    assert named, f"redis needs a named volume (declared under volumes:), has {vols}"
    assert any(v.endswith(":/data") for v in r["volumes"] if isinstance(v, str)), "the volume must hold /data"
    test = r.get("healthcheck", {}).get("test", [])
    assert "redis-cli ping" in " ".join(test), f"redis healthcheck must run redis-cli ping: {test}"


def grace_s(text):
    m = re.fullmatch(r"(\d+)([smhd]?)", str(text))
    assert m, f"not a duration: {text}"
    return int(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


def test_compose_api_and_worker():
    c = compose()
    api, worker = c["services"]["api"], c["services"]["worker"]
    env = env_of(api)
    assert env.get("JOBQ_LISTEN") == "0.0.0.0:8080", f"api JOBQ_LISTEN: {env.get('JOBQ_LISTEN')}"
    assert any(str(p).endswith("8080") or str(p).endswith(":8080") for p in api.get("ports", [])), \
        "api must publish port 8080"
    for name, svc in (("api", api), ("worker", worker)):
        assert env_of(svc).get("JOBQ_REDIS_URL") == "redis://redis:6379/0", f"{name} JOBQ_REDIS_URL"
        assert depends_healthy(svc, "redis"), f"{name} must depend on redis with condition: service_healthy"
        assert svc.get("build", {}).get("dockerfile") == "docker/Dockerfile", f"{name} builds docker/Dockerfile"
        ctx = os.path.normpath(os.path.join(ROOT, "docker", svc["build"]["context"]))
        assert ctx == ROOT, f"{name}: the build context must be the repository root, is {ctx}"
        graceful = grace_s(env_of(svc).get("JOBQ_SHUTDOWN_GRACE", "30s"))
        assert grace_s(svc.get("stop_grace_period", "10s")) > graceful, \
            f"{name}: stop_grace_period must exceed JOBQ_SHUTDOWN_GRACE ({graceful}s) or Docker kills it mid-drain"
    assert api.get("command") in (["api"], "api"), f"api command: {api.get('command')}"
    assert worker.get("command") in (["worker"], "worker"), f"worker command: {worker.get('command')}"
    assert "/healthz" in " ".join(api.get("healthcheck", {}).get("test", [])), "api healthcheck must GET /healthz"
    assert (worker.get("deploy") or {}).get("replicas") == 2, "worker deploy.replicas must be 2"
    assert env_of(api).get("JOBQ_PREFIX") == env_of(worker).get("JOBQ_PREFIX"), "api and worker prefixes differ"


def test_compose_env_in_help():
    c = compose()
    for name, binary in (("api", "jobq-api"), ("worker", "jobq-worker")):
        names = {k for k in env_of(c["services"][name]) if k.startswith("JOBQ_")}
        unknown = names - help_vars(binary)
        assert not unknown, f"service {name} sets {sorted(unknown)}, which {binary} --help does not name"


def test_docker_readme_documents_env():
    doc = read("docker", "README.md")
    c = compose()
    names = set()
    for name in ("api", "worker"):
        names |= {k for k in env_of(c["services"][name]) if k.startswith("JOBQ_")}
    missing = sorted(n for n in names if n not in doc)
    assert not missing, f"docker/README.md does not document {missing}"
    for topic in ("replicas", "load balancer", "/readyz"):
        assert topic in doc, f"docker/README.md does not mention {topic}"


# ---- docker/systemd/ ---------------------------------------------------------

UNITS = ("jobq-api.socket", "jobq-api.service", "jobq-worker@.service")


def unit(name):
    """unit parses docker/systemd/<name> into {section: [(key, value)]}
    (systemd allows a key more than once, so no dict per section)."""
    sections, cur = {}, None
    for n, line in enumerate(read("docker", "systemd", name).splitlines(), 1):
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            assert line.endswith("]"), f"{name}:{n}: bad section header"
            cur = sections.setdefault(line[1:-1], [])
            continue
        assert cur is not None and "=" in line, f"{name}:{n}: not key=value in a section: {line}"
        k, v = line.split("=", 1)
        cur.append((k.strip(), v.strip()))
    return sections


def unit_get(sections, section, key):
    """unit_get returns the last value of key in section (as systemd reads
    it), or None."""
    vals = [v for k, v in sections.get(section, []) if k == key]
    return vals[-1] if vals else None


def help_flags(binary):
    r = subprocess.run([os.path.join(BIN, binary), "--help"], capture_output=True, text=True, timeout=10)
    return set(re.findall(r"--[a-z][a-z-]+", r.stdout))


def test_units_shape():
    sock, api, worker = (unit(n) for n in UNITS)
    assert unit_get(sock, "Socket", "ListenStream") == "8080", "jobq-api.socket must listen on 8080"
    assert len([k for k, _ in sock["Socket"] if k.startswith("Listen")]) == 1, "jobq-api serves one socket"
    assert "jobq-api.socket" in (unit_get(api, "Unit", "Requires") or ""), "jobq-api.service must Require the socket"
    for name, u in (("jobq-api.service", api), ("jobq-worker@.service", worker)):
        get = lambda k: unit_get(u, "Service", k)  # noqa: E731
        assert get("Type") == "notify", f"{name}: Type=notify"
        assert get("KillSignal") == "SIGTERM", f"{name}: KillSignal=SIGTERM"
        assert get("KillMode") == "mixed", f"{name}: KillMode=mixed"
        assert get("Restart") == "on-failure", f"{name}: Restart=on-failure"
        for k in ("NoNewPrivileges", "PrivateTmp"):
            assert get(k) == "yes", f"{name}: {k}=yes"
        assert get("ProtectSystem") == "strict", f"{name}: ProtectSystem=strict"
        assert get("DynamicUser") == "yes" or get("User"), f"{name}: DynamicUser=yes or a User="
        stop = grace_s(get("TimeoutStopSec") or "90s")
        assert stop > 30, f"{name}: TimeoutStopSec ({stop}s) must exceed the default --shutdown-grace (30s)"
    assert "%i" in unit_get(worker, "Service", "ExecStart"), "jobq-worker@: the instance names the queues"


def test_units_exec_start():
    for name, binary in (("jobq-api.service", "jobq-api"), ("jobq-worker@.service", "jobq-worker")):
        cmd = unit_get(unit(name), "Service", "ExecStart").split()
        assert cmd[0] == "/usr/local/bin/" + binary, f"{name}: ExecStart runs {cmd[0]}, not make install's {binary}"
        unknown = {a for a in cmd[1:] if a.startswith("--")} - help_flags(binary)
        assert not unknown, f"{name}: ExecStart passes {sorted(unknown)}, which {binary} --help does not name"
    mk = read("Makefile")
    for name in UNITS:
        assert f"docker/systemd/{name}" in mk or "docker/systemd/*" in mk, f"make install does not install {name}"


def test_units_verify():
    """systemd-analyze verify, with ExecStart pointed at the built binaries;
    any complaint about the units fails. Skipped where systemd is missing."""
    if shutil.which("systemd-analyze") is None:
        print("     (systemd-analyze not installed: skipped)")
        return
    with tempfile.TemporaryDirectory() as d:
        for name in UNITS:
            text = read("docker", "systemd", name).replace("/usr/local/bin/", BIN + "/")
            with open(os.path.join(d, name), "w", encoding="utf-8") as f:
                f.write(text)
        os.symlink(os.path.join(d, "jobq-worker@.service"), os.path.join(d, "jobq-worker@default.service"))
        paths = [os.path.join(d, n) for n in ("jobq-api.socket", "jobq-api.service", "jobq-worker@default.service")]
        r = subprocess.run(["systemd-analyze", "verify", "--man=no"] + paths,
                           capture_output=True, text=True, timeout=60)
        complaints = [ln for ln in (r.stdout + r.stderr).splitlines() if d in ln]
        assert r.returncode == 0 and not complaints, \
            f"systemd-analyze verify (exit {r.returncode}): {complaints or r.stderr.strip()}"


def git_version():
    r = subprocess.run(["git", "-C", ROOT, "describe", "--tags", "--always", "--dirty"],
                       capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else None


def test_versions():
    want = git_version()
    assert want, "git describe failed: cannot tell the expected version"
    for b in ("jobq-api", "jobq-worker"):
        r = subprocess.run([os.path.join(BIN, b), "--version"], capture_output=True, text=True, timeout=10)
        assert r.returncode == 0, f"{b} --version exited {r.returncode}"
        assert r.stdout.strip() == f"{b} {want}", f"{b} --version says {r.stdout.strip()!r}, git describe {want!r}"


# ==== The C sources: routes, statuses, codes, parameters ======================

def c_scan(src):
    """c_scan returns (code, masked): src with comments blanked, and the
    same with the insides of string and char literals blanked as well; both
    keep every offset."""
    code, masked = list(src), list(src)
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("/*", i):
            j = src.find("*/", i + 2)
            j = n if j < 0 else j + 2
            for k in range(i, j):
                if src[k] != "\n":
                    code[k] = masked[k] = " "
            i = j
        elif src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            for k in range(i, j):
                code[k] = masked[k] = " "
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and src[j] != c:
                j += 2 if src[j] == "\\" else 1
            for k in range(i + 1, min(j, n)):
                masked[k] = "x"
            i = j + 1
        else:
            i += 1
    return "".join(code), "".join(masked)


def match_close(masked, i):
    """match_close returns the offset of the bracket closing masked[i]."""
    pairs = {"(": ")", "{": "}", "[": "]"}
    open_, close = masked[i], pairs[masked[i]]
    depth = 0
    for j in range(i, len(masked)):
        if masked[j] == open_:
            depth += 1
        elif masked[j] == close:
            depth -= 1
            if depth == 0:
                return j
    raise ValueError("unbalanced brackets")


def split_args(code, masked, open_paren):
    """split_args returns the top-level arguments of the call whose '(' is
    at open_paren, as source text."""
    end = match_close(masked, open_paren)
    args, depth, start = [], 0, open_paren + 1
    for k in range(open_paren + 1, end):
        ch = masked[k]
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            args.append(code[start:k].strip())
            start = k + 1
    args.append(code[start:end].strip())
    return args


class CFunc:
    def __init__(self, name, file, code, masked):
        self.name, self.file, self.code, self.masked = name, file, code, masked


def c_functions(files):
    """c_functions returns {name: CFunc} for the function definitions of
    files, and {array name: [string literals]} for their static arrays of
    strings."""
    funcs, arrays = {}, {}
    for f in files:
        code, masked = c_scan(read(f))
        for m in re.finditer(r"^[A-Za-z_][\w \t\*]*?\b(\w+)\s*\(", masked, re.M):
            if masked[m.start():].startswith(("return", "typedef", "#")):
                continue
            close = match_close(masked, m.end() - 1)
            k = close + 1
            while k < len(masked) and masked[k] in " \t\n":
                k += 1
            if k < len(masked) and masked[k] == "{":
                end = match_close(masked, k)
                funcs[m.group(1)] = CFunc(m.group(1), f, code[k:end + 1], masked[k:end + 1])
        for m in re.finditer(r"^static\s+const\s+char\s*\*\s*const\s+(\w+)\s*\[[^\]]*\]\s*=\s*\{", masked, re.M):
            end = match_close(masked, m.end() - 1)
            arrays[m.group(1)] = re.findall(r'"((?:[^"\\]|\\.)*)"', code[m.end():end])
    return funcs, arrays


def mhd_status_numbers():
    """mhd_status_numbers returns {MHD_HTTP_NAME: number} from microhttpd.h."""
    flags = subprocess.run(["pkg-config", "--cflags-only-I", "libmicrohttpd"],
                           capture_output=True, text=True).stdout.split()
    dirs = [f[2:] for f in flags] + ["/usr/include"]
    for d in dirs:
        h = os.path.join(d, "microhttpd.h")
        if os.path.exists(h):
            with open(h, encoding="utf-8", errors="replace") as fh:
                return {k: int(v) for k, v in re.findall(r"#define\s+(MHD_HTTP_\w+)\s+(\d+)\b", fh.read())}
    raise FileNotFoundError("microhttpd.h")


def csv_problem_codes():
    """csv_problem_codes returns the codes the upload checker can report as
    a 422: the literals of csv_check.c's set_problem calls and the codes
    csv_error_code (csv_reader.c) returns, less those that are not CSV
    problems."""
    codes = set(re.findall(r'set_problem\(\s*\w+,\s*"(\w+)"', read("queue", "csv_check.c")))
    body = read("queue", "csv_reader.c")
    fn = body[body.index("const char *csv_error_code("):]
    fn = fn[:fn.index("\n}\n")]
    codes |= set(re.findall(r'return\s+"(\w+)"', fn))
    return codes - {"ok", "out_of_memory", "aborted", "unknown"}


# Codes that are not literals where reply_error_set is called, and where
# they come from.
DYNAMIC_CODES = {"p->code": csv_problem_codes}

# What the call walk over-approximates, with the reason; each entry must
# still be found by the walk (else it is stale and fails the check).
WALK_EXCEPTIONS = {
    ("GET", "/readyz"): {
        (500, "internal_error"): "handlers_readyz replaces any store failure but out of memory with 503 unavailable",
    },
}


class ServerModel:
    """What the C sources say the server answers, per route."""

    def __init__(self):
        api_files = sorted("api/" + f for f in os.listdir(path("api")) if f.endswith(".c"))
        self.funcs, self.arrays = c_functions(api_files)
        self.status_of = mhd_status_numbers()
        self.routes = self.route_table()

    def route_table(self):
        code, masked = c_scan(read("api", "handlers.c"))
        m = re.search(r"handlers_routes\s*\[\s*\]\s*=\s*\{", masked)
        assert m, "no handlers_routes table in api/handlers.c"
        table = code[m.end():match_close(masked, m.end() - 1)]
        routes = re.findall(r'\{\s*"([A-Z]+)"\s*,\s*"([^"]+)"\s*,\s*(\w+)\s*,([^{}]*)\}', table)
        assert routes, "the route table is empty or unparsable"
        self.route_flags = {(meth, pat): set(re.findall(r"\bROUTE_\w+", flags))
                            for meth, pat, _handler, flags in routes}
        return {(meth, pat): handler for meth, pat, handler, _flags in routes}

    def closure(self, name):
        seen, todo = set(), [name]
        while todo:
            f = todo.pop()
            if f in seen or f not in self.funcs:
                continue
            seen.add(f)
            todo.extend(set(re.findall(r"\b\w+\b", self.funcs[f].masked)) & set(self.funcs))
        return seen

    def replies(self, handler):
        """replies returns {(status, code or None)} a handler can answer."""
        out = set()
        for fname in self.closure(handler):
            fn = self.funcs[fname]
            in_error_calls = set()
            for m in re.finditer(r"\breply_error(?:_set)?\s*\(", fn.masked):
                args = split_args(fn.code, fn.masked, m.end() - 1)
                if len(args) < 3 or not args[1].startswith("MHD_HTTP_"):
                    continue
                status = self.status_of[args[1]]
                in_error_calls.add(args[1])
                lit = re.fullmatch(r'"(\w+)"', args[2])
                if lit:
                    out.add((status, lit.group(1)))
                elif args[2] in DYNAMIC_CODES:
                    out |= {(status, c) for c in DYNAMIC_CODES[args[2]]()}
                else:
                    raise AssertionError(f"{fname}: cannot tell the code {args[2]!r} of a {status} reply")
            bare = {s for s in re.findall(r"\bMHD_HTTP_\w+", fn.masked)
                    if s in self.status_of and s not in in_error_calls}
            named = re.findall(r'error_code\s*=\s*"(\w+)"', fn.code)
            for s in bare:
                st = self.status_of[s]
                out.add((st, named[0] if st >= 400 and named else None))
        return out

    def gate_replies(self, route):
        """gate_replies returns {(status, code)} api/gate.c answers before
        route's handler runs (gate.h), as the route's flags in the table
        say: 401 (gate_auth) and 429 (gate_rate) on ROUTE_KEY routes, 403
        only on ROUTE_OPERATOR ones."""
        flags = self.route_flags[route]
        operator = "ROUTE_OPERATOR" in flags
        out = set()
        if "ROUTE_KEY" in flags:
            out |= {(s, c) for s, c in self.replies("gate_auth") if s != 403 or operator}
            out |= self.replies("gate_rate")
        return out

    def query_params(self, handler):
        names = set()
        for fname in self.closure(handler):
            fn = self.funcs[fname]
            for arr, values in self.arrays.items():
                if re.search(rf"\b{arr}\b", fn.masked) and arr.endswith("option_names"):
                    names |= set(values)
            names |= set(re.findall(r'MHD_GET_ARGUMENT_KIND\s*,\s*"(\w+)"', fn.code))
        return names


def load_spec():
    with open(path("api", "openapi.yaml"), encoding="utf-8") as f:
        return yaml.safe_load(f)


def resolve(spec, node):
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), f"only local $refs: {ref}"
        node = spec
        for part in ref[2:].split("/"):
            node = node[part]
    return node


def error_codes(spec, schema):
    """error_codes returns the union of error.code enums in schema (through
    $ref and allOf)."""
    schema = resolve(spec, schema)
    if not isinstance(schema, dict):
        return set()
    codes = set()
    for sub in schema.get("allOf", []) + schema.get("oneOf", []) + schema.get("anyOf", []):
        codes |= error_codes(spec, sub)
    err = resolve(spec, schema.get("properties", {}).get("error", {}))
    code = resolve(spec, (err or {}).get("properties", {}).get("code", {}))
    codes |= set((code or {}).get("enum", []))
    if "const" in (code or {}):
        codes.add(code["const"])
    return codes


HTTP_METHODS = ("get", "put", "post", "delete", "patch", "options", "head", "trace")


def spec_operations(spec):
    """spec_operations returns {(METHOD, path): operation}."""
    ops = {}
    for p, item in spec["paths"].items():
        for meth in HTTP_METHODS:
            if meth in item:
                ops[(meth.upper(), p)] = (item, item[meth])
    return ops


def spec_replies(spec, op):
    """spec_replies returns {(status, code or None)} the operation lists."""
    out = set()
    for status, resp in op["responses"].items():
        st = int(status)
        resp = resolve(spec, resp)
        codes = set()
        for media in (resp.get("content") or {}).values():
            codes |= error_codes(spec, media.get("schema", {}))
        if st >= 400:
            assert codes, f"the {st} response lists no error codes"
            out |= {(st, c) for c in codes}
        else:
            out.add((st, None))
    return out


def spec_params(spec, item, op, where):
    params = [resolve(spec, p) for p in item.get("parameters", []) + op.get("parameters", [])]
    return {p["name"] for p in params if p["in"] == where}


_model = None


def model():
    global _model
    if _model is None:
        _model = ServerModel()
    return _model


def test_spec_is_openapi_31():
    spec = load_spec()
    assert str(spec.get("openapi", "")).startswith("3.1"), f"openapi: {spec.get('openapi')}"
    text = read("api", "openapi.yaml")
    for ref in set(re.findall(r'\$ref:\s*"?([^"\s}]+)', text)):
        resolve(spec, {"$ref": ref})


def test_routes_both_ways():
    server = set(model().routes)
    spec = set(spec_operations(load_spec()))
    assert not server - spec, f"routes missing from the spec: {sorted(server - spec)}"
    assert not spec - server, f"operations the server does not route: {sorted(spec - server)}"


def test_statuses_and_codes_both_ways():
    spec = load_spec()
    ops = spec_operations(spec)
    problems = []
    for route, handler in sorted(model().routes.items()):
        if route not in ops:
            continue  # reported by the route check
        found = model().replies(handler) | model().gate_replies(route)
        for pair, why in WALK_EXCEPTIONS.get(route, {}).items():
            if pair not in found:
                problems.append(f"{route}: stale exception {pair} ({why})")
            found.discard(pair)
        listed = spec_replies(spec, ops[route][1])
        fs, ls = {s for s, _ in found}, {s for s, _ in listed}
        if fs - ls:
            problems.append(f"{route}: statuses the server returns but the spec lacks: {sorted(fs - ls)}")
        if ls - fs:
            problems.append(f"{route}: statuses in the spec the server never returns: {sorted(ls - fs)}")
        for s in sorted(fs & ls):
            fc = {c for st, c in found if st == s and c}
            lc = {c for st, c in listed if st == s and c}
            if fc != lc:
                problems.append(f"{route} {s}: codes only in the server {sorted(fc - lc)}, only in the spec {sorted(lc - fc)}")
    assert not problems, "\n     ".join(problems)


def test_parameters_both_ways():
    spec = load_spec()
    ops = spec_operations(spec)
    problems = []
    for route, handler in sorted(model().routes.items()):
        if route not in ops:
            continue
        item, op = ops[route]
        want_path = set(re.findall(r"\{(\w+)\}", route[1]))
        got_path = spec_params(spec, item, op, "path")
        if want_path != got_path:
            problems.append(f"{route}: path parameters {sorted(want_path)} in the pattern, {sorted(got_path)} in the spec")
        want_q = model().query_params(handler)
        got_q = spec_params(spec, item, op, "query")
        if want_q != got_q:
            problems.append(f"{route}: query parameters {sorted(want_q)} in the server, {sorted(got_q)} in the spec")
    assert not problems, "\n     ".join(problems)


def test_routing_errors_documented():
    spec = load_spec()
    code, _ = c_scan(read("api", "server.c"))
    pairs = set(re.findall(r"reply_error_set\(\s*&?\w+,\s*(MHD_HTTP_\w+),\s*\"(\w+)\"", code))
    st = mhd_status_numbers()
    pairs = {(st[s], c) for s, c in pairs}
    assert pairs == {(404, "not_found"), (405, "method_not_allowed")}, f"server.c answers {pairs}"
    responses = spec["components"]["responses"]
    for name, (s, c) in (("NotFound", (404, "not_found")), ("MethodNotAllowed", (405, "method_not_allowed"))):
        codes = set()
        for media in responses[name]["content"].values():
            codes |= error_codes(spec, media["schema"])
        assert codes == {c}, f"components.responses.{name} codes {codes}, server sends {c}"
    assert "Allow" in responses["MethodNotAllowed"].get("headers", {}), "405 must document Allow"


# ==== A live server ==========================================================

class Live:
    """A redis-server on a Unix socket, jobq-api on a kernel-chosen port
    and, on demand, a jobq-worker; all in a temporary directory and stopped
    by PID."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="jobq-shipping-")
        self.sock = os.path.join(self.dir, "redis.sock")
        self.procs = {}
        self.start("redis", ["redis-server", "--port", "0", "--unixsocket", self.sock,
                             "--unixsocketperm", "700", "--dir", self.dir, "--save", "",
                             "--appendonly", "no"])
        self.wait_for(lambda: subprocess.run(["redis-cli", "-s", self.sock, "ping"],
                                             capture_output=True, text=True).stdout.strip() == "PONG",
                      "redis-server did not start")
        self.url = f"unix://{self.sock}"
        self.start("api", [os.path.join(BIN, "jobq-api"), "--redis-url", self.url,
                           "--listen", "127.0.0.1:0", "--max-upload", "1K", "--threads", "2",
                           "--prefix", "ship"])
        self.port = self.wait_for(self.api_port, "jobq-api did not log its port")

    def start(self, name, argv):
        log = open(os.path.join(self.dir, name + ".log"), "wb")
        self.procs[name] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL)

    def start_worker(self):
        self.start("worker", [os.path.join(BIN, "jobq-worker"), "--redis-url", self.url,
                              "--prefix", "ship", "--concurrency", "1"])

    def wait_for(self, fn, what, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            v = fn()
            if v:
                return v
            for name, p in self.procs.items():
                if p.poll() is not None:
                    raise RuntimeError(f"{what}: {name} exited {p.returncode}\n{self.log(name)}")
            time.sleep(0.05)
        raise RuntimeError(what)

    def log(self, name):
        try:
            with open(os.path.join(self.dir, name + ".log"), encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def api_port(self):
        for line in self.log("api").splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if rec.get("msg") == "listening":
                return int(rec["address"].rsplit(":", 1)[1])
        return None

    def request(self, method, target, body=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, target, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, dict(resp.getheaders()), data
        finally:
            conn.close()

    def stop(self, name):
        p = self.procs.pop(name, None)
        if p is None:
            return None
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        return p.returncode

    def close(self):
        for name in ("api", "worker", "redis"):
            self.stop(name)
        if SHOW_LOGS:
            for name in ("redis", "api", "worker"):
                print(f"---- {name} log\n{self.log(name)}")
        shutil.rmtree(self.dir, ignore_errors=True)


def match_route(method, target):
    """match_route returns the (METHOD, pattern) of the route table that
    target takes, or None."""
    p = target.split("?", 1)[0].rstrip("/") or "/"
    for (meth, pat) in model().routes:
        rx = "^" + re.sub(r"\\\{\w+\\\}", r"[^/]+", re.escape(pat)) + "$"
        if meth == method and re.match(rx, p):
            return (meth, pat)
    return None


CSV = b"city,pop\nOslo,709000\nBergen,291000\n"


def live_checks(live):
    """live_checks provokes each cheap status and checks both what the
    server says and that the spec lists it for the route."""
    spec = load_spec()
    ops = spec_operations(spec)
    ids = {}

    def expect(name, method, target, status, code=None, body=None, headers=None, then=None):
        def run():
            got, hdrs, data = live.request(method, target, body, headers)
            payload = json.loads(data) if data and hdrs.get("Content-Type", "").startswith("application/json") else None
            err = payload.get("error") if isinstance(payload, dict) and got >= 400 else None
            got_code = err.get("code") if isinstance(err, dict) else None
            assert (got, got_code) == (status, code), f"{method} {target}: {got} {got_code}, expected {status} {code}; {data[:200]!r}"
            assert "X-Request-ID" in hdrs, "no X-Request-ID"
            route = match_route(method, target)
            if route is None:
                name_ = {404: "NotFound", 405: "MethodNotAllowed"}[status]
                codes = set()
                for media in spec["components"]["responses"][name_]["content"].values():
                    codes |= error_codes(spec, media["schema"])
                assert code in codes, f"{code} not in components.responses.{name_}"
            else:
                assert route in ops, f"{route} not in the spec"
                assert (status, code) in spec_replies(spec, ops[route][1]), \
                    f"the spec does not list {status} {code} for {route}"
            if then:
                then(got, hdrs, payload, data)
        check(f"live: {name} -> {status}{' ' + code if code else ''}", run)

    def keep(key):
        def f(_s, hdrs, payload, _d):
            assert hdrs.get("Location") == f"/v1/jobs/{payload['id']}", f"Location {hdrs.get('Location')}"
            ids[key] = payload["id"]
        return f

    csv_h = {"Content-Type": "text/csv"}
    expect("liveness", "GET", "/healthz", 200)
    expect("readiness with Redis up", "GET", "/readyz", 200)
    expect("submit raw CSV", "POST", "/v1/jobs", 202, body=CSV, headers=csv_h, then=keep("a"))
    expect("an unknown task", "POST", "/v1/jobs?task=nope", 400, "unknown_task", body=CSV, headers=csv_h)
    expect("an unknown parameter", "POST", "/v1/jobs?colour=red", 400, "unknown_parameter", body=CSV, headers=csv_h)
    expect("a form without boundary", "POST", "/v1/jobs", 400, "invalid_multipart", body=CSV,
           headers={"Content-Type": "multipart/form-data"})
    form = b"--xyz\r\nContent-Disposition: form-data; name=\"task\"\r\n\r\nndjson\r\n--xyz--\r\n"
    expect("a form without file", "POST", "/v1/jobs", 400, "missing_file", body=form,
           headers={"Content-Type": "multipart/form-data; boundary=xyz"})
    expect("a JSON body", "POST", "/v1/jobs", 415, "unsupported_media_type", body=b"{}",
           headers={"Content-Type": "application/json"})
    expect("a body over --max-upload", "POST", "/v1/jobs", 413, "payload_too_large",
           body=b"a,b\n" + b"1,2\n" * 600, headers=csv_h)
    expect("max_attempts 0", "POST", "/v1/jobs?max_attempts=0", 400, "invalid_max_attempts", body=CSV, headers=csv_h)
    expect("a timeout that is no number", "POST", "/v1/jobs?timeout=soon", 400, "invalid_timeout", body=CSV, headers=csv_h)
    expect("dead letters", "GET", "/v1/dead?limit=5", 200)
    expect("dead letters, limit 0", "GET", "/v1/dead?limit=0", 400, "invalid_limit")
    expect("a ragged record", "POST", "/v1/jobs", 422, "ragged_record", body=b"a,b\n1\n", headers=csv_h)
    expect("header only", "POST", "/v1/jobs", 422, "no_data_records", body=b"a,b\n", headers=csv_h)
    if "a" not in ids:
        return
    a = ids["a"]
    expect("a queued job", "GET", f"/v1/jobs/{a}", 200)
    expect("the result of a queued job", "GET", f"/v1/jobs/{a}/result", 409, "job_not_finished")
    expect("an unknown job", "GET", "/v1/jobs/" + "0" * 32, 404, "job_not_found")
    expect("a malformed id", "GET", "/v1/jobs/not-an-id/result", 404, "job_not_found")
    expect("cancel a queued job", "DELETE", f"/v1/jobs/{a}", 200)
    expect("cancel it again", "DELETE", f"/v1/jobs/{a}", 200)
    expect("the result of a cancelled job", "GET", f"/v1/jobs/{a}/result", 409, "job_not_succeeded")
    expect("retry a cancelled job", "POST", f"/v1/jobs/{a}/retry", 409, "job_not_failed")
    expect("retry an unknown job", "POST", "/v1/jobs/" + "e" * 32 + "/retry", 404, "job_not_found")
    expect("cancel an unknown job", "DELETE", "/v1/jobs/" + "f" * 32, 404, "job_not_found")
    expect("a path nobody routes", "GET", "/v2/nothing", 404, "not_found")
    expect("a method the path does not take", "PUT", "/v1/jobs", 405, "method_not_allowed",
           then=lambda _s, h, _p, _d: None if h.get("Allow") else (_ for _ in ()).throw(AssertionError("no Allow")))

    live.start_worker()
    expect("submit another", "POST", "/v1/jobs", 202, body=CSV, headers=csv_h, then=keep("b"))
    if "b" in ids:
        b = ids["b"]

        def done():
            _s, _h, data = live.request("GET", f"/v1/jobs/{b}")
            return json.loads(data).get("status") in ("succeeded", "failed")
        ok = check("live: a worker runs the job", lambda: live.wait_for(done, "the job did not finish", 20))
        if ok:
            expect("the result of a succeeded job", "GET", f"/v1/jobs/{b}/result", 200)
            expect("cancel a succeeded job", "DELETE", f"/v1/jobs/{b}", 409, "job_finished")
    check("live: the worker stops cleanly on SIGTERM", lambda: live.stop("worker") == 0 or
          (_ for _ in ()).throw(AssertionError("non-zero exit\n" + live.log("worker"))))
    live.stop("redis")
    expect("readiness with Redis gone", "GET", "/readyz", 503, "unavailable")
    expect("a job with Redis gone", "GET", "/v1/jobs/" + "0" * 32, 503, "unavailable")
    check("live: the API stops cleanly on SIGTERM", lambda: live.stop("api") == 0 or
          (_ for _ in ()).throw(AssertionError("non-zero exit\n" + live.log("api"))))


def main():
    print("-- docker/")
    check("the dependency lists are well-formed", test_lists_are_sane)
    check("apt knows every package of deps-build.txt and deps-runtime.txt", test_runtime_list_known_to_apt)
    check("the Makefile installs from the same lists (deps, deps-build)", test_makefile_shares_the_lists)
    check("the Dockerfile installs only through install-deps.sh and the lists", test_dockerfile_installs_only_from_lists)
    check("the runtime image: non-root, HEALTHCHECK, entry point for api and worker", test_runtime_stage_shape)
    check("deps-runtime.txt holds every library the binaries link", test_runtime_list_covers_libraries)
    check("compose: redis with AOF everysec, noeviction, a named volume, a ping check", test_compose_redis)
    check("compose: api and worker settings, health, depends_on, replicas", test_compose_api_and_worker)
    check("compose: every JOBQ_ variable is in its binary's --help", test_compose_env_in_help)
    check("docker/README.md documents the variables and scaling", test_docker_readme_documents_env)
    check("--version of both binaries is git describe", test_versions)
    print("-- docker/systemd/")
    check("units: socket on 8080, Type=notify, SIGTERM, KillMode=mixed, hardening, stop timeout", test_units_shape)
    check("units: ExecStart runs the installed binaries with flags their --help names", test_units_exec_start)
    check("units: systemd-analyze verify finds nothing", test_units_verify)
    print("-- api/openapi.yaml against the sources")
    check("the spec is OpenAPI 3.1 and every $ref resolves", test_spec_is_openapi_31)
    check("every route is in the spec and every operation is routed", test_routes_both_ways)
    check("each route's statuses and error codes match the spec both ways", test_statuses_and_codes_both_ways)
    check("each route's path and query parameters match the spec", test_parameters_both_ways)
    check("404 not_found and 405 method_not_allowed are documented", test_routing_errors_documented)
    print("-- api/openapi.yaml against a running server")
    live = None
    try:
        live = Live()
    except Exception as e:  # noqa: BLE001
        check("live: redis-server and jobq-api start", lambda: (_ for _ in ()).throw(e))
    if live is not None:
        try:
            live_checks(live)
        finally:
            live.close()
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
