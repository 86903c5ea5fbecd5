#!/usr/bin/env python3
"""Offline checks of deploy/k8s: no cluster, no container runtime.

What it checks, for every manifest kustomization.yaml lists (and the Secret template):
  - kinds, apiVersions and the fields each kind needs (selectors matching template labels, the
    StatefulSet's serviceName and single replica, resources on every container);
  - every `hpsweep` argument against the real CLI: the subcommand exists, each flag is one that
    `hpsweep SUBCOMMAND --help` lists, each flag that takes a value has one, no flag twice,
    every $(VAR) is defined in the container's env;
  - ports: --listen's port is a containerPort, the Service's targetPort and every probe's port
    resolve to it, the worker's --coordinator is the Service's name and port;
  - TLS and tokens: the coordinator listens beyond loopback only with --tls-cert, --tls-key and
    --auth-tokens; workers pass --tls-ca and --token-file; --tls-server-name is one of the names
    make-secrets.sh asks `hpsweep certs --host` for;
  - files: every path passed (--token-file, --tls-*, --auth-tokens, --db, --data-dir) lies under a
    volume the container mounts (or, for --data-dir, in the image: deploy/Containerfile), and a
    path in a Secret volume is a key of that Secret in secrets.template.yaml, also when an init
    container copies it into an emptyDir first; the database is on a writable claim;
  - the Secret template's keys are exactly those make-secrets.sh creates with `kubectl create
    secret generic --from-file=KEY=...`.
Then it mutates the manifests (a misspelt flag, a wrong probe port, a missing Secret key, a path
outside every mount, a server name not in the certificate) and checks that each is caught, so the
checks themselves can fail. Last, it runs make-secrets.sh with the real hpsweep and a stand-in
kubectl, reads the server certificate's names with openssl, and runs the coordinator's and the
worker's command lines from the manifests as real processes on loopback (mount paths mapped to
temporary folders): the worker must register over TLS with the Secret's CA, server name and token.

  python3 tests/deploy/k8s_manifests_test.py      (HPSWEEP_BIN: the built hpsweep binary;
                                                   HPSWEEP_SOURCE_DIR: the repository root)
"""
import copy
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import unittest

try:
    import yaml
except ImportError:  # pragma: no cover
    sys.exit("k8s_manifests_test: needs PyYAML (apt-get install python3-yaml)")

SOURCE_DIR = os.environ.get(
    "HPSWEEP_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
HPSWEEP_BIN = os.environ.get("HPSWEEP_BIN", os.path.join(SOURCE_DIR, "build", "cli", "hpsweep"))
K8S_DIR = os.path.join(SOURCE_DIR, "deploy", "k8s")
CONTAINERFILE = os.path.join(SOURCE_DIR, "deploy", "Containerfile")

# kind -> apiVersion, and whether it lives in a namespace.
KINDS = {
    "Namespace": ("v1", False),
    "Service": ("v1", True),
    "Secret": ("v1", True),
    "StatefulSet": ("apps/v1", True),
    "Deployment": ("apps/v1", True),
}
DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# Flags whose value is a file or folder the container must be able to read (or write: --db).
PATH_FLAGS = ("--token-file", "--tls-ca", "--tls-cert", "--tls-key", "--tls-client-ca",
              "--auth-tokens", "--db", "--data-dir")
LOOPBACK = ("127.0.0.1", "localhost", "[::1]")

_help_cache = {}


def cli_flags(subcommand):
    """{flag: takes_value} from `hpsweep SUBCOMMAND --help`, or None if it is no subcommand."""
    if subcommand not in _help_cache:
        r = subprocess.run([HPSWEEP_BIN] + subcommand.split() + ["--help"],
                           capture_output=True, text=True, timeout=30)
        flags = None
        if r.returncode == 0 and "Options:" in r.stdout:
            flags = {}
            for line in r.stdout.split("Options:", 1)[1].splitlines():
                m = re.match(r"^\s+(?:-\w,)?(--[A-Za-z0-9][-A-Za-z0-9]*)(.*)$", line)
                if m:
                    # CLI11 prints the value's type after a flag that takes one: TEXT, INT...
                    flags[m.group(1)] = bool(re.match(r"^\s+[A-Z]+\b", m.group(2)))
        _help_cache[subcommand] = flags
    return _help_cache[subcommand]


def load_yaml_docs(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def load_manifests():
    kust = load_yaml_docs(os.path.join(K8S_DIR, "kustomization.yaml"))[0]
    docs = []
    for res in kust["resources"]:
        for d in load_yaml_docs(os.path.join(K8S_DIR, res)):
            docs.append((res, d))
    return docs


def secret_template():
    """{secret name: set of keys} from secrets.template.yaml."""
    out = {}
    for d in load_yaml_docs(os.path.join(K8S_DIR, "secrets.template.yaml")):
        keys = set((d.get("stringData") or {}).keys()) | set((d.get("data") or {}).keys())
        out[d["metadata"]["name"]] = keys
    return out


def make_secrets_text():
    with open(os.path.join(K8S_DIR, "make-secrets.sh"), encoding="utf-8") as f:
        return f.read()


def script_variables(text):
    """Plain NAME=value assignments at the start of a line (the script's defaults)."""
    return dict(re.findall(r"^([A-Z_]+)=([-A-Za-z0-9._/]+)$", text, re.M))


def expand(word, variables):
    return re.sub(r"\$\{([A-Z_]+)\}", lambda m: variables.get(m.group(1), m.group(0)), word)


def certificate_hosts(text):
    """The names make-secrets.sh passes to `hpsweep certs --host`, expanded."""
    variables = script_variables(text)
    joined = text.replace("\\\n", " ")
    m = re.search(r'certs --out \S+ --host (.*)', joined)
    if not m:
        return set()
    return {expand(w, variables) for w in shlex.split(m.group(1))}


def script_secret_keys(text):
    """{secret name: set of keys} from the script's `kubectl create secret generic` lines."""
    out = {}
    joined = text.replace("\\\n", " ")
    for m in re.finditer(r"create secret generic (\S+)(.*)", joined):
        out[m.group(1)] = set(re.findall(r"--from-file=([^=\s]+)=", m.group(2)))
    return out


def image_paths():
    """Folders the Containerfile's final stage puts files into (COPY destinations)."""
    with open(CONTAINERFILE, encoding="utf-8") as f:
        text = f.read()
    final = text.rsplit("\nFROM ", 1)[-1]
    return [m.group(1).rstrip("/") for m in re.finditer(r"^COPY\s.*\s(/\S+)\s*$", final, re.M)]


def under(path, folder):
    folder = folder.rstrip("/")
    return path == folder or path.startswith(folder + "/")


def parse_args(args, where, errors):
    """[subcommand words], {flag: value or True} after checking every flag against the CLI."""
    args = [str(a) for a in args]
    sub = []
    i = 0
    while i < len(args) and not args[i].startswith("-"):
        sub.append(args[i])
        i += 1
    if not sub:
        errors.append(f"{where}: no hpsweep subcommand in args")
        return [], {}
    flags = cli_flags(" ".join(sub))
    if flags is None:
        errors.append(f"{where}: 'hpsweep {' '.join(sub)}' is not a subcommand of the built binary")
        return sub, {}
    seen = {}
    while i < len(args):
        a = args[i]
        name, eq, inline = a.partition("=")
        if not name.startswith("--"):
            errors.append(f"{where}: '{a}' is not a flag (a value without its flag?)")
            i += 1
            continue
        if name not in flags:
            errors.append(f"{where}: hpsweep {' '.join(sub)} has no flag {name} "
                          f"(`hpsweep {' '.join(sub)} --help`)")
            i += 1
            continue
        if name in seen:
            errors.append(f"{where}: {name} given twice")
        if flags[name]:
            if eq:
                seen[name] = inline
            elif i + 1 < len(args) and not args[i + 1].startswith("--"):
                seen[name] = args[i + 1]
                i += 1
            else:
                errors.append(f"{where}: {name} needs a value")
        else:
            if eq:
                errors.append(f"{where}: {name} takes no value")
            seen[name] = True
        i += 1
    return sub, seen


def pod_spec(doc):
    return doc["spec"]["template"]["spec"]


def check(docs, template, script_text, images):
    """Every problem found, as 'file: kind/name: ...' strings; [] when all is well."""
    errors = []
    services, workloads = [], []
    for res, d in docs:
        kind = d.get("kind")
        name = (d.get("metadata") or {}).get("name", "")
        where = f"{res}: {kind}/{name}"
        if kind not in KINDS:
            errors.append(f"{where}: unexpected kind")
            continue
        api, namespaced = KINDS[kind]
        if d.get("apiVersion") != api:
            errors.append(f"{where}: apiVersion {d.get('apiVersion')}, want {api}")
        if not DNS1123.match(name or ""):
            errors.append(f"{where}: metadata.name '{name}' is not a DNS-1123 label")
        ns = d["metadata"].get("namespace")
        if namespaced and ns != "hpsweep":
            errors.append(f"{where}: namespace {ns}, want hpsweep")
        if kind == "Service":
            services.append((where, d))
        if kind in ("StatefulSet", "Deployment"):
            workloads.append((where, d))
            spec = d.get("spec") or {}
            sel = (spec.get("selector") or {}).get("matchLabels") or {}
            labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
            if not sel or any(labels.get(k) != v for k, v in sel.items()):
                errors.append(f"{where}: spec.selector.matchLabels do not match the pod labels")
            if not (spec.get("template") or {}).get("spec", {}).get("containers"):
                errors.append(f"{where}: no containers")
            if kind == "StatefulSet":
                if not spec.get("serviceName"):
                    errors.append(f"{where}: StatefulSet needs spec.serviceName")
                if spec.get("replicas") != 1:
                    errors.append(f"{where}: the coordinator must have exactly 1 replica "
                                  "(one writer of its SQLite file)")

    service_names = {d["metadata"]["name"]: d for _, d in services}
    for where, d in workloads:
        check_workload(where, d, docs, template, script_text, images, service_names, errors)
    for where, s in services:
        sel = s["spec"].get("selector") or {}
        targets = [w for _, w in workloads
                   if all(w["spec"]["template"]["metadata"]["labels"].get(k) == v
                          for k, v in sel.items())]
        if len(targets) != 1:
            errors.append(f"{where}: selector matches {len(targets)} workloads, want 1")
            continue
        ports = container_ports(pod_spec(targets[0]))
        for p in s["spec"].get("ports") or []:
            if resolve_port(p.get("targetPort", p.get("port")), ports) is None:
                errors.append(f"{where}: targetPort {p.get('targetPort')} is no containerPort")

    # The Secret template and the script that creates the Secrets agree.
    script_keys = script_secret_keys(script_text)
    for name, keys in template.items():
        if script_keys.get(name) != keys:
            errors.append(f"secrets.template.yaml: Secret {name} has keys {sorted(keys)}, "
                          f"make-secrets.sh creates {sorted(script_keys.get(name, []))}")
    for name in set(script_keys) - set(template):
        errors.append(f"make-secrets.sh: creates Secret {name}, not in secrets.template.yaml")
    return errors


def container_ports(spec):
    """{name or number: containerPort} over the pod's containers."""
    out = {}
    for c in spec.get("containers") or []:
        for p in c.get("ports") or []:
            out[p["containerPort"]] = p["containerPort"]
            if p.get("name"):
                out[p["name"]] = p["containerPort"]
    return out


def resolve_port(port, ports):
    if isinstance(port, str) and port.isdigit():
        port = int(port)
    return ports.get(port)


def split_host_port(address):
    host, _, port = address.rpartition(":")
    return host, int(port) if port.isdigit() else None


def check_workload(where, d, docs, template, script_text, images, services, errors):
    spec = pod_spec(d)
    volumes = {v["name"]: v for v in spec.get("volumes") or []}
    claims = {c["metadata"]["name"] for c in d["spec"].get("volumeClaimTemplates") or []}
    ports = container_ports(spec)
    init = spec.get("initContainers") or []
    hosts = certificate_hosts(script_text)
    for c in spec.get("containers") or []:
        cw = f"{where}: container {c.get('name')}"
        if not c.get("image"):
            errors.append(f"{cw}: no image")
        res = c.get("resources") or {}
        for kind in ("requests", "limits"):
            for r in ("cpu", "memory"):
                if r not in (res.get(kind) or {}):
                    errors.append(f"{cw}: no resources.{kind}.{r}")
        mounts = {}
        for m in c.get("volumeMounts") or []:
            if m["name"] not in volumes and m["name"] not in claims:
                errors.append(f"{cw}: mounts volume {m['name']}, which the pod does not define")
            mounts[m["mountPath"]] = m
        command = c.get("command") or []
        if not command or os.path.basename(command[0]) != "hpsweep":
            continue
        if command[0] not in images:
            errors.append(f"{cw}: command {command[0]} is not where deploy/Containerfile puts "
                          f"the binary ({', '.join(images)})")
        env = {e["name"]: e for e in c.get("env") or []}
        for e in env.values():
            ref = (e.get("valueFrom") or {}).get("resourceFieldRef")
            if ref and ref.get("containerName", c["name"]) != c["name"]:
                errors.append(f"{cw}: env {e['name']} reads another container's resources")
            if ref and ref.get("resource", "").split(".")[-1] not in (
                    (res.get(ref["resource"].split(".")[0]) or {})):
                errors.append(f"{cw}: env {e['name']} reads {ref.get('resource')}, which is unset")
        args = [str(a) for a in command[1:] + (c.get("args") or [])]
        for a in args:
            for var in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", a):
                if var not in env:
                    errors.append(f"{cw}: $({var}) in args is not in the container's env")
        sub, flags = parse_args(args, cw, errors)

        # Probes reach the container's own ports.
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            p = c.get(probe)
            if not p:
                continue
            for handler in ("tcpSocket", "grpc", "httpGet"):
                if handler in p and resolve_port(p[handler].get("port"), ports) is None:
                    errors.append(f"{cw}: {probe}.{handler}.port {p[handler].get('port')} "
                                  "is no containerPort")

        if sub == ["coordinator"]:
            host, port = split_host_port(str(flags.get("--listen", "127.0.0.1:50051")))
            if port not in ports.values():
                errors.append(f"{cw}: --listen port {port} is no containerPort")
            if host not in LOOPBACK and not flags.get("--insecure"):
                for need in ("--tls-cert", "--tls-key", "--auth-tokens"):
                    if need not in flags:
                        errors.append(f"{cw}: listens on {host} without {need}")
        if sub == ["worker"]:
            host, port = split_host_port(str(flags.get("--coordinator", "")))
            svc = services.get(host.split(".")[0])
            if svc is None:
                errors.append(f"{cw}: --coordinator {host} is not a Service of these manifests")
            elif port not in [p["port"] for p in svc["spec"]["ports"]]:
                errors.append(f"{cw}: --coordinator port {port} is not the Service's port")
            for need in ("--tls-ca", "--token-file"):
                if need not in flags:
                    errors.append(f"{cw}: no {need} (the coordinator needs TLS and a token)")
            name = flags.get("--tls-server-name", host)
            if name not in hosts:
                errors.append(f"{cw}: the certificate is checked against '{name}', but "
                              f"make-secrets.sh makes it for {sorted(hosts)}")

        for flag in PATH_FLAGS:
            if flag not in flags:
                continue
            path = str(flags[flag])
            check_path(cw, flag, path, mounts, volumes, claims, init, template, images, errors)


def mount_of(path, mounts):
    best = None
    for mp in mounts:
        if under(path, mp) and (best is None or len(mp) > len(best)):
            best = mp
    return best


def check_path(cw, flag, path, mounts, volumes, claims, init, template, images, errors,
               depth=0):
    mp = mount_of(path, mounts)
    if mp is None:
        if flag == "--data-dir" and any(under(path, p) for p in images):
            return
        errors.append(f"{cw}: {flag} {path} is under no volume the container mounts")
        return
    m = mounts[mp]
    rel = os.path.relpath(path, mp)
    if m["name"] in claims:
        if flag != "--db":
            errors.append(f"{cw}: {flag} {path} is on the database's claim")
        elif m.get("readOnly"):
            errors.append(f"{cw}: --db {path} is on a read-only mount")
        return
    vol = volumes.get(m["name"], {})
    if flag == "--db":
        errors.append(f"{cw}: --db {path} is not on a PersistentVolumeClaim (lost on restart)")
        return
    if "secret" in vol:
        name = vol["secret"].get("secretName")
        keys = template.get(name)
        if keys is None:
            errors.append(f"{cw}: {flag} {path}: Secret {name} is not in secrets.template.yaml")
            return
        items = vol["secret"].get("items")
        key = rel
        if items is not None:
            by_path = {it["path"]: it["key"] for it in items}
            if rel not in by_path:
                errors.append(f"{cw}: {flag} {path}: volume {m['name']} has no item {rel}")
                return
            key = by_path[rel]
        if key not in keys:
            errors.append(f"{cw}: {flag} {path}: Secret {name} has no key {key} "
                          "(secrets.template.yaml)")
        return
    if "emptyDir" in vol and depth == 0:
        # Filled by an init container that copies a file of a mounted Secret into it.
        for ic in init:
            imounts = {im["mountPath"]: im for im in ic.get("volumeMounts") or []}
            target = [mpi for mpi, im in imounts.items() if im["name"] == m["name"]]
            cmd = [str(x) for x in (ic.get("command") or []) + (ic.get("args") or [])]
            if not target or os.path.join(target[0], rel) not in cmd:
                continue
            sources = [x for x in cmd if x.startswith("/") and x != os.path.join(target[0], rel)]
            for src in sources:
                check_path(f"{cw} (copied by init container {ic['name']})", flag, src, imounts,
                           volumes, claims, [], template, images, errors, depth + 1)
            if sources:
                return
        errors.append(f"{cw}: {flag} {path} is in emptyDir {m['name']}, which no init "
                      "container fills")
        return
    errors.append(f"{cw}: {flag} {path} is on volume {m['name']}, neither a Secret nor filled "
                  "from one")


def find_container(docs, kind, name):
    for _, d in docs:
        if d["kind"] == kind:
            for c in pod_spec(d)["containers"]:
                if c["name"] == name:
                    return d, c
    raise KeyError(name)


class ManifestsTest(unittest.TestCase):
    def setUp(self):
        self.docs = load_manifests()
        self.template = secret_template()
        self.script = make_secrets_text()
        self.images = image_paths()

    def errors(self, docs=None, template=None, script=None):
        return check(docs if docs is not None else self.docs,
                     template if template is not None else self.template,
                     script if script is not None else self.script, self.images)

    def test_binary_has_the_subcommands(self):
        for sub in ("coordinator", "worker", "certs", "token create"):
            self.assertIsNotNone(cli_flags(sub), f"hpsweep {sub} --help failed ({HPSWEEP_BIN})")
        self.assertIn("--token-file", cli_flags("worker"))
        self.assertTrue(cli_flags("worker")["--token-file"])
        self.assertFalse(cli_flags("coordinator")["--insecure"])

    def test_every_kind_is_there(self):
        kinds = sorted(d["kind"] for _, d in self.docs)
        self.assertEqual(kinds, ["Deployment", "Namespace", "Service", "StatefulSet"])
        self.assertEqual(sorted(self.template), ["hpsweep-coordinator", "hpsweep-worker"])

    def test_manifests_are_consistent(self):
        self.assertEqual(self.errors(), [])

    def test_certificate_names_cover_the_service(self):
        hosts = certificate_hosts(self.script)
        self.assertIn("hpsweep-coordinator", hosts)
        self.assertIn("hpsweep-coordinator.hpsweep.svc.cluster.local", hosts)

    def test_image_holds_the_data(self):
        self.assertIn("/usr/share/hpsweep/mnist", self.images)

    # ---- each check can fail ----
    def mutated(self, kind, container, edit):
        docs = copy.deepcopy(self.docs)
        d, c = find_container(docs, kind, container)
        edit(d, c)
        return docs

    def assert_caught(self, docs, needle, **kw):
        errors = self.errors(docs, **kw)
        self.assertTrue(any(needle in e for e in errors), f"'{needle}' not in {errors}")

    def test_misspelt_flag_is_caught(self):
        def edit(d, c):
            c["args"][c["args"].index("--token-file")] = "--token-fil"
        self.assert_caught(self.mutated("Deployment", "worker", edit), "has no flag --token-fil")

    def test_flag_of_another_subcommand_is_caught(self):
        def edit(d, c):
            c["args"] += ["--auth-tokens", "/etc/hpsweep/secret/ca.crt"]
        self.assert_caught(self.mutated("Deployment", "worker", edit),
                           "hpsweep worker has no flag --auth-tokens")

    def test_missing_value_is_caught(self):
        def edit(d, c):
            i = c["args"].index("--tls-key")
            del c["args"][i + 1]
            c["args"].append("--tls-key")
            del c["args"][i]
        self.assert_caught(self.mutated("StatefulSet", "coordinator", edit),
                           "--tls-key needs a value")

    def test_wrong_probe_port_is_caught(self):
        def edit(d, c):
            c["readinessProbe"]["tcpSocket"]["port"] = 50052
        self.assert_caught(self.mutated("StatefulSet", "coordinator", edit),
                           "readinessProbe.tcpSocket.port 50052")

    def test_wrong_listen_port_is_caught(self):
        def edit(d, c):
            c["args"][c["args"].index("--listen") + 1] = "0.0.0.0:50052"
        self.assert_caught(self.mutated("StatefulSet", "coordinator", edit),
                           "--listen port 50052 is no containerPort")

    def test_listening_without_tokens_is_caught(self):
        def edit(d, c):
            i = c["args"].index("--auth-tokens")
            del c["args"][i:i + 2]
        self.assert_caught(self.mutated("StatefulSet", "coordinator", edit),
                           "without --auth-tokens")

    def test_wrong_service_port_is_caught(self):
        def edit(d, c):
            c["args"][c["args"].index("--coordinator") + 1] = "hpsweep-coordinator:443"
        self.assert_caught(self.mutated("Deployment", "worker", edit),
                           "--coordinator port 443")

    def test_server_name_not_in_certificate_is_caught(self):
        def edit(d, c):
            c["args"][c["args"].index("--tls-server-name") + 1] = "coordinator"
        self.assert_caught(self.mutated("Deployment", "worker", edit), "checked against 'coordinator'")

    def test_path_outside_mounts_is_caught(self):
        def edit(d, c):
            c["args"][c["args"].index("--tls-ca") + 1] = "/etc/ssl/hpsweep/ca.crt"
        self.assert_caught(self.mutated("Deployment", "worker", edit),
                           "--tls-ca /etc/ssl/hpsweep/ca.crt is under no volume")

    def test_missing_secret_key_is_caught(self):
        template = copy.deepcopy(self.template)
        template["hpsweep-coordinator"].discard("tokens.txt")
        self.assert_caught(self.docs, "Secret hpsweep-coordinator has no key tokens.txt",
                           template=template)

    def test_token_copied_from_missing_key_is_caught(self):
        def edit(d, c):
            for v in pod_spec(d)["volumes"]:
                if v["name"] == "secret":
                    v["secret"]["items"] = [it for it in v["secret"]["items"]
                                            if it["key"] != "worker.token"]
        self.assert_caught(self.mutated("Deployment", "worker", edit),
                           "volume secret has no item worker.token")

    def test_database_off_the_claim_is_caught(self):
        def edit(d, c):
            c["args"][c["args"].index("--db") + 1] = "/tmp/hpsweep.db"
        self.assert_caught(self.mutated("StatefulSet", "coordinator", edit),
                           "is not on a PersistentVolumeClaim")

    def test_undefined_env_var_is_caught(self):
        def edit(d, c):
            c["env"] = [e for e in c["env"] if e["name"] != "HPSWEEP_THREADS"]
        self.assert_caught(self.mutated("Deployment", "worker", edit),
                           "$(HPSWEEP_THREADS) in args is not in the container's env")

    def test_script_and_template_disagreeing_is_caught(self):
        script = self.script.replace("--from-file=ca.crt=", "--from-file=ca.pem=")
        self.assert_caught(self.docs, "Secret hpsweep-worker has keys", script=script)

    def test_binary_path_not_in_image_is_caught(self):
        def edit(d, c):
            c["command"] = ["/usr/bin/hpsweep"]
        self.assert_caught(self.mutated("Deployment", "worker", edit),
                           "command /usr/bin/hpsweep is not where deploy/Containerfile puts")

    def test_two_coordinators_are_caught(self):
        def edit(d, c):
            d["spec"]["replicas"] = 2
        self.assert_caught(self.mutated("StatefulSet", "coordinator", edit), "exactly 1 replica")


class KustomizeTest(unittest.TestCase):
    """`kubectl kustomize` renders offline; Debian 12 has no kubectl of this age, so it may skip."""

    def test_kustomize_renders_the_same_objects(self):
        kubectl = shutil.which("kubectl")
        if kubectl is None:
            self.skipTest("no kubectl on PATH")
        r = subprocess.run([kubectl, "kustomize", K8S_DIR], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        rendered = sorted((d["kind"], d["metadata"]["name"])
                          for d in yaml.safe_load_all(r.stdout) if d)
        ours = sorted((d["kind"], d["metadata"]["name"]) for _, d in load_manifests())
        self.assertEqual(rendered, ours)


class MakeSecretsTest(unittest.TestCase):
    """make-secrets.sh with the real hpsweep and a kubectl that only records its arguments."""

    def test_makes_certificates_tokens_and_both_secrets(self):
        with tempfile.TemporaryDirectory() as tmp:
            bindir = os.path.join(tmp, "bin")
            os.mkdir(bindir)
            log = os.path.join(tmp, "kubectl.log")
            with open(os.path.join(bindir, "kubectl"), "w") as f:
                f.write('#!/bin/sh\necho "$*" >> "%s"\n'
                        'case "$*" in *"apply -f -"*) cat >/dev/null ;; '
                        '*"create secret"*) echo "kind: Secret" ;; esac\nexit 0\n' % log)
            os.chmod(os.path.join(bindir, "kubectl"), 0o755)
            out = os.path.join(tmp, "secrets")
            env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""))
            r = subprocess.run(["bash", os.path.join(K8S_DIR, "make-secrets.sh"), "--out", out,
                                "--hpsweep", HPSWEEP_BIN], env=env, capture_output=True,
                               text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            for token in ("worker.token", "user.token"):
                mode = stat.S_IMODE(os.stat(os.path.join(out, token)).st_mode)
                self.assertEqual(mode, 0o600, token)
            with open(os.path.join(out, "tokens.txt")) as f:
                roles = sorted(line.split()[0] for line in f if line.strip())
            self.assertEqual(roles, ["user", "worker"])
            # The server certificate carries every name the workers may use.
            san = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in",
                                  os.path.join(out, "certs", "server.crt")],
                                 capture_output=True, text=True, timeout=30).stdout
            for host in certificate_hosts(make_secrets_text()):
                self.assertIn("DNS:" + host, san)
            with open(log) as f:
                calls = f.read()
            for name, keys in secret_template().items():
                line = next((l for l in calls.splitlines() if f"secret generic {name} " in l), "")
                self.assertTrue(line, f"no kubectl create secret generic {name}: {calls}")
                for key in keys:
                    self.assertIn(f"--from-file={key}=", line)
            # Run again: it refuses to overwrite what it made.
            r = subprocess.run(["bash", os.path.join(K8S_DIR, "make-secrets.sh"), "--out", out,
                                "--hpsweep", HPSWEEP_BIN], env=env, capture_output=True,
                               text=True, timeout=60)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("exists", r.stderr)


class ManifestArgsRunTest(unittest.TestCase):
    """The manifests' own command lines, run as real processes on loopback.

    The coordinator and worker containers' args are taken from the YAML with each mount path
    mapped to a temporary folder (the Secret files made by make-secrets.sh, the database claim),
    the init container's `install` run as written, $(VARS) filled as the kubelet would, and only
    the addresses changed: the coordinator listens on 127.0.0.1:0 and the worker dials that port
    while still checking the certificate against its --tls-server-name. The worker must
    register: TLS, the server name, the CA, the token and its file mode all as the pods have them.
    """

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.tmp.cleanup()

    def make_secrets(self):
        bindir = os.path.join(self.tmp.name, "bin")
        os.mkdir(bindir)
        with open(os.path.join(bindir, "kubectl"), "w") as f:
            f.write('#!/bin/sh\ncase "$*" in *"apply -f -"*) cat >/dev/null ;; esac\nexit 0\n')
        os.chmod(os.path.join(bindir, "kubectl"), 0o755)
        out = os.path.join(self.tmp.name, "secrets")
        env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""))
        r = subprocess.run(["bash", os.path.join(K8S_DIR, "make-secrets.sh"), "--out", out,
                            "--hpsweep", HPSWEEP_BIN], env=env, capture_output=True, text=True,
                           timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        # Secret key -> the file make-secrets.sh put into it.
        return {"server.crt": f"{out}/certs/server.crt", "server.key": f"{out}/certs/server.key",
                "tokens.txt": f"{out}/tokens.txt", "ca.crt": f"{out}/certs/ca.crt",
                "worker.token": f"{out}/worker.token"}

    def pod_root(self, name, d, files):
        """A folder per mount of the pod, Secret volumes filled as the kubelet would (0440)."""
        root = os.path.join(self.tmp.name, name)
        spec = pod_spec(d)
        volumes = {v["name"]: v for v in spec.get("volumes") or []}
        mapping = {}
        for c in spec.get("initContainers", []) + spec["containers"]:
            for m in c.get("volumeMounts") or []:
                host = os.path.join(root, m["name"])
                mapping[m["mountPath"]] = host
                if os.path.isdir(host):
                    continue
                os.makedirs(host)
                secret = volumes.get(m["name"], {}).get("secret")
                for it in (secret or {}).get("items") or []:
                    with open(files[it["key"]], "rb") as src, \
                            open(os.path.join(host, it["path"]), "wb") as dst:
                        dst.write(src.read())
                    os.chmod(os.path.join(host, it["path"]), 0o440)
        mapping["/usr/share/hpsweep/mnist"] = os.path.join(root, "image-mnist")
        os.makedirs(mapping["/usr/share/hpsweep/mnist"])
        return mapping

    @staticmethod
    def localize(words, mapping, env):
        out = []
        for w in words:
            w = re.sub(r"\$\(([A-Za-z_]+)\)", lambda m: env[m.group(1)], str(w))
            for mp in sorted(mapping, key=len, reverse=True):
                if under(w, mp):
                    w = mapping[mp] + w[len(mp.rstrip("/")):]
                    break
            out.append(w)
        return out

    def wait_for_line(self, path, needle, proc, seconds=60):
        for _ in range(seconds * 10):
            with open(path, errors="replace") as f:
                text = f.read()
            if needle in text:
                return text
            if proc.poll() is not None:
                break
            time.sleep(0.1)
        with open(path, errors="replace") as f:
            self.fail(f"no '{needle}' from {proc.args[:2]}: {f.read()}")

    def start(self, args, log):
        f = open(log, "w")
        p = subprocess.Popen(args, stdout=f, stderr=subprocess.STDOUT)
        f.close()
        self.procs.append(p)
        return p

    def test_manifest_command_lines_connect(self):
        files = self.make_secrets()
        docs = load_manifests()
        coord_doc, coord = find_container(docs, "StatefulSet", "coordinator")
        worker_doc, worker = find_container(docs, "Deployment", "worker")

        # The coordinator, as the StatefulSet runs it, on 127.0.0.1:0.
        cmap = self.pod_root("coordinator", coord_doc, files)
        cargs = self.localize(coord["command"] + coord["args"], cmap, {})
        cargs[0] = HPSWEEP_BIN
        cargs[cargs.index("--listen") + 1] = "127.0.0.1:0"
        clog = os.path.join(self.tmp.name, "coordinator.log")
        cproc = self.start(cargs, clog)
        text = self.wait_for_line(clog, "listening on", cproc)
        address = re.search(r"listening on (127\.0\.0\.1:\d+)", text).group(1)
        self.assertIn("(TLS, tokens)", text)

        # The worker pod: its init container's command as written, then the worker.
        wmap = self.pod_root("worker", worker_doc, files)
        init = pod_spec(worker_doc)["initContainers"][0]
        r = subprocess.run(self.localize(init["command"], wmap, {}), capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        env = {"HPSWEEP_THREADS": "1", "POD_NAME": "hpsweep-worker-7d9f-abcde"}
        wargs = self.localize(worker["command"] + worker["args"], wmap, env)
        wargs[0] = HPSWEEP_BIN
        token = wargs[wargs.index("--token-file") + 1]
        self.assertEqual(stat.S_IMODE(os.stat(token).st_mode), 0o600)
        host = wargs[wargs.index("--coordinator") + 1].rsplit(":", 1)[0]
        self.assertEqual(host, "hpsweep-coordinator")
        wargs[wargs.index("--coordinator") + 1] = address  # the Service's DNS name is not here
        wlog = os.path.join(self.tmp.name, "worker.log")
        wproc = self.start(wargs, wlog)
        self.wait_for_line(wlog, "registered with " + address, wproc)

        # And the same worker reading the Secret's own file (0440) is refused, as the init
        # container's comment says.
        wargs[wargs.index("--token-file") + 1] = os.path.join(wmap["/etc/hpsweep/secret"],
                                                               "worker.token")
        r = subprocess.run(wargs, capture_output=True, text=True, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("token file is readable or writable by other users", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
