"""Rules for deploy/kubernetes/: the Deployment's hardening, probes and
secrets, the objects around it (Service, PodDisruptionBudget, NetworkPolicy,
Namespace), the kustomization, and what `kubectl kustomize` makes of it all."""

from __future__ import annotations

import ipaddress
import os
import re

from .common import Findings, load_all

# Never applied: it would overwrite the real Secret with placeholders.
NOT_APPLIED = ("kustomization.yaml", "secret.example.yaml")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
# The local-config ConfigMap holding the NetworkPolicy's settings.
NETWORK_SETTINGS = "auth-service-network"
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}


def _kdir(deploy: str) -> str:
    return os.path.join(deploy, "kubernetes")


def kustomization(deploy: str) -> dict:
    """deploy/kubernetes/kustomization.yaml."""
    return load_all(os.path.join(_kdir(deploy), "kustomization.yaml"))[0]


def manifests(deploy: str) -> dict[str, list[tuple[str, dict]]]:
    """{kind: [(file, object)]} of every manifest beside the kustomization."""
    kdir = _kdir(deploy)
    docs: dict[str, list[tuple[str, dict]]] = {}
    for f in sorted(os.listdir(kdir)):
        if f.endswith((".yaml", ".yml")) and f != "kustomization.yaml":
            for d in load_all(os.path.join(kdir, f)):
                docs.setdefault(d.get("kind"), []).append((f, d))
    return docs


def deployment_uid(deploy: str) -> int | None:
    """The Deployment's pod runAsUser, if there is exactly one Deployment."""
    deps = manifests(deploy).get("Deployment", [])
    if len(deps) != 1:
        return None
    pod = deps[0][1].get("spec", {}).get("template", {}).get("spec", {})
    return pod.get("securityContext", {}).get("runAsUser")


def selects(selector: dict, labels: dict) -> bool:
    """Whether a non-empty label selector (matchLabels, or a plain map) picks `labels`."""
    sel = selector.get("matchLabels", selector) if isinstance(selector, dict) else {}
    return bool(sel) and all(labels.get(k) == v for k, v in sel.items())


def check(deploy: str) -> Findings:
    """The rules on the manifests as written."""
    found = Findings()
    kdir = _kdir(deploy)
    kust = kustomization(deploy)
    found.need(kust.get("kind") == "Kustomization", "kustomization.yaml: kind Kustomization expected")
    listed = kust.get("resources", [])
    present = sorted(f for f in os.listdir(kdir) if f.endswith((".yaml", ".yml")))
    for f in listed:
        found.need(f in present, f"kustomization.yaml lists {f}, which does not exist")
    for f in present:
        if f not in NOT_APPLIED:
            found.need(f in listed, f"kustomization.yaml does not list {f}")
    found.need("secret.example.yaml" not in listed,
               "kustomization.yaml must not apply secret.example.yaml (it would overwrite the real Secret)")
    docs = manifests(deploy)
    for kind, objs in docs.items():
        for f, d in objs:
            found.need("apiVersion" in d and kind, f"{f}: apiVersion and kind required")
            found.need(d.get("metadata", {}).get("name"), f"{f}: metadata.name required")
    deps = docs.get("Deployment", [])
    found.need(len(deps) == 1, "exactly one Deployment expected")
    if not deps:
        return found
    f, dep = deps[0]
    spec = dep.get("spec", {})
    found.need(spec.get("replicas") == 2, f"{f}: replicas: 2 expected")
    pod = spec.get("template", {}).get("spec", {})
    labels = spec.get("template", {}).get("metadata", {}).get("labels", {})
    _pod_rules(found, f, pod)
    for kind in ("Service", "PodDisruptionBudget", "NetworkPolicy"):
        objs = docs.get(kind, [])
        found.need(len(objs) == 1, f"one {kind} is expected")
        for sf, o in objs:
            spec_o = o.get("spec", {})
            sel = {"Service": spec_o.get("selector", {}),
                   "PodDisruptionBudget": spec_o.get("selector", {}),
                   "NetworkPolicy": spec_o.get("podSelector", {})}[kind]
            found.need(selects(sel, labels), f"{sf}: selector does not match the pods")
    for sf, pdb in docs.get("PodDisruptionBudget", []):
        _pdb_rules(found, sf, pdb, spec.get("replicas"))
    ports = {p.get("name"): p.get("containerPort") for c in pod.get("containers", []) for p in c.get("ports", [])}
    for sf, np in docs.get("NetworkPolicy", []):
        _network_policy_rules(found, sf, np, ports)
    _secret_rules(found, docs, pod.get("containers", []))
    _kustomization_rules(found, kust, docs, pod.get("containers", []))
    return found


def _pod_rules(found: Findings, f: str, pod: dict) -> None:
    psc = pod.get("securityContext", {})
    found.need(psc.get("runAsNonRoot") is True, f"{f}: pod runAsNonRoot: true")
    for k in ("runAsUser", "runAsGroup", "fsGroup"):
        found.need(isinstance(psc.get(k), int) and psc.get(k) > 0, f"{f}: pod {k} must be a non-zero number")
    found.need(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{f}: pod seccompProfile RuntimeDefault")
    containers = pod.get("containers", [])
    found.need(len(containers) == 1, f"{f}: one container expected")
    volumes = {v.get("name"): v for v in pod.get("volumes", [])}
    for c in containers:
        n = c.get("name")
        sc = c.get("securityContext", {})
        found.need(sc.get("readOnlyRootFilesystem") is True, f"{f}: {n}: readOnlyRootFilesystem: true")
        found.need(sc.get("allowPrivilegeEscalation") is False, f"{f}: {n}: allowPrivilegeEscalation: false")
        found.need("ALL" in sc.get("capabilities", {}).get("drop", []), f"{f}: {n}: capabilities drop ALL")
        found.need(sc.get("privileged") in (None, False), f"{f}: {n}: must not be privileged")
        found.need(sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True, f"{f}: {n}: runAsNonRoot")
        found.need(sc.get("seccompProfile", psc.get("seccompProfile", {})).get("type") == "RuntimeDefault",
                   f"{f}: {n}: seccompProfile RuntimeDefault")
        lp = c.get("livenessProbe", {}).get("httpGet", {})
        rp = c.get("readinessProbe", {}).get("httpGet", {})
        found.need(lp.get("path") == "/healthz", f"{f}: {n}: livenessProbe httpGet /healthz")
        found.need(rp.get("path") == "/readyz", f"{f}: {n}: readinessProbe httpGet /readyz")
        ports = {p.get("name"): p.get("containerPort") for p in c.get("ports", [])}
        for probe in (lp, rp):
            found.need(probe.get("port") in ports or probe.get("port") in ports.values(),
                       f"{f}: {n}: probe port {probe.get('port')!r} is not a container port")
        res = c.get("resources", {})
        for part in ("requests", "limits"):
            for r in ("cpu", "memory"):
                found.need(r in res.get(part, {}), f"{f}: {n}: resources.{part}.{r} required")
        env = {e.get("name"): e for e in c.get("env", [])}
        for var in ("AUTH_SERVICE_DATABASE_URL", "AUTH_SERVICE_OPERATOR_KEY"):
            ref = env.get(var, {}).get("valueFrom", {}).get("secretKeyRef")
            found.need(ref and ref.get("name") and ref.get("key"), f"{f}: {n}: {var} must come from a secretKeyRef")
            found.need("value" not in env.get(var, {}), f"{f}: {n}: {var} must not be a literal value")
        found.need("AUTH_SERVICE_VAULT_ADDRESSES" in env, f"{f}: {n}: AUTH_SERVICE_VAULT_ADDRESSES expected")
        tmpdir = env.get("AUTH_SERVICE_AGENT_TEMP_DIR", {}).get("value")
        mounts = {m.get("mountPath"): m.get("name") for m in c.get("volumeMounts", [])}
        found.need(tmpdir in mounts, f"{f}: {n}: AUTH_SERVICE_AGENT_TEMP_DIR ({tmpdir}) must be a mounted volume")
        if tmpdir in mounts:
            found.need("emptyDir" in volumes.get(mounts[tmpdir], {}),
                       f"{f}: {n}: the agent temp dir must be an emptyDir (the root file system is read-only)")


def _pdb_rules(found: Findings, f: str, pdb: dict, replicas: object) -> None:
    spec = pdb.get("spec", {})
    lo, hi = spec.get("minAvailable"), spec.get("maxUnavailable")
    found.need((lo is None) != (hi is None), f"{f}: exactly one of minAvailable and maxUnavailable")
    # A budget that allows no eviction blocks every node drain.
    if isinstance(lo, int) and isinstance(replicas, int):
        found.need(lo < replicas, f"{f}: minAvailable {lo} with {replicas} replicas lets no pod be evicted")
    if isinstance(hi, int):
        found.need(hi >= 1, f"{f}: maxUnavailable must be at least 1, or no pod can be evicted")
    # A crash-looping pod must not hold up a drain.
    found.need(spec.get("unhealthyPodEvictionPolicy") == "AlwaysAllow",
               f"{f}: unhealthyPodEvictionPolicy: AlwaysAllow expected")


def _peer_is_labelled_pods(peer: dict) -> bool:
    return bool(peer.get("podSelector", {}).get("matchLabels")) and "ipBlock" not in peer


def _network_policy_rules(found: Findings, f: str, np: dict, container_ports: dict) -> None:
    spec = np.get("spec", {})
    found.need(set(spec.get("policyTypes", [])) == {"Ingress", "Egress"}, f"{f}: policyTypes Ingress and Egress")
    ingress = spec.get("ingress", [])
    found.need(ingress, f"{f}: at least one ingress rule (else nothing reaches the service)")
    for i, rule in enumerate(ingress):
        peers = rule.get("from", [])
        found.need(peers and all(_peer_is_labelled_pods(p) for p in peers),
                   f"{f}: ingress[{i}] must admit only pods picked by their labels")
        for p in rule.get("ports", []) or [{}]:
            port = p.get("port")
            found.need(port in container_ports or port in container_ports.values(),
                       f"{f}: ingress[{i}] must name the service's container port, found {port!r}")
    egress = spec.get("egress", [])
    found.need(egress, f"{f}: egress rules expected (Vault, PostgreSQL, STS, DNS)")
    seen: set[tuple[str, object]] = set()
    for i, rule in enumerate(egress):
        found.need(rule.get("ports"), f"{f}: egress[{i}] must name its ports")
        found.need(rule.get("to"), f"{f}: egress[{i}] must name its destinations")
        for p in rule.get("ports", []):
            seen.add((p.get("protocol", "TCP"), p.get("port")))
    for want in (("UDP", 53), ("TCP", 53), ("TCP", 443)):
        found.need(want in seen, f"{f}: egress to {want[1]}/{want[0]} expected")


def _secret_rules(found: Findings, docs: dict, containers: list) -> None:
    secret_refs = {(e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
                   for c in containers for e in c.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})}
    secrets = docs.get("Secret", [])
    found.need(secrets, "secret.example.yaml: an example Secret is expected")
    for sf, s in secrets:
        data = s.get("stringData", {})
        for name, key in secret_refs:
            if s["metadata"]["name"] == name:
                found.need(key in data, f"{sf}: key {key} (used by the Deployment) missing")
        for key, val in data.items():
            found.need("REPLACE-ME" in str(val), f"{sf}: {key} must be an obvious placeholder (REPLACE-ME)")
        if "operator-key" in data:
            found.need(len(str(data["operator-key"])) < 32,
                       f"{sf}: the placeholder operator key must be too short to be accepted")


def _kustomization_rules(found: Findings, kust: dict, docs: dict, containers: list) -> None:
    ns = kust.get("namespace")
    found.need(ns and ns != "default", "kustomization.yaml: namespace: expected (never default)")
    names = [d.get("metadata", {}).get("name") for _, d in docs.get("Namespace", [])]
    found.need(names == [ns], f"kustomization.yaml: a Namespace manifest named {ns!r} expected, found {names}")
    images = {i.get("name"): i for i in kust.get("images", [])}
    for c in containers:
        name = re.split(r"[@:]", str(c.get("image", "")), maxsplit=1)[0]
        entry = images.get(name, {})
        found.need(DIGEST.match(str(entry.get("digest", ""))),
                   f"kustomization.yaml: images: {name} must be pinned by digest: sha256:<64 hex>")
    generated = {g.get("name"): g for g in kust.get("configMapGenerator", [])}
    net = generated.get(NETWORK_SETTINGS)
    found.need(net, f"kustomization.yaml: configMapGenerator {NETWORK_SETTINGS} (the NetworkPolicy's settings) expected")
    if net:
        ann = (net.get("options") or {}).get("annotations") or {}
        found.need(ann.get("config.kubernetes.io/local-config") == "true",
                   f"kustomization.yaml: {NETWORK_SETTINGS} must be local-config (settings only, never applied)")
    sources = {r.get("source", {}).get("name") for r in kust.get("replacements", [])}
    found.need(sources == {NETWORK_SETTINGS} if net else True,
               f"kustomization.yaml: replacements must take their values from {NETWORK_SETTINGS}")


def field_path(path: str) -> list[str]:
    """A kustomize fieldPath split at its unescaped dots (`a.b\\.c` -> a, b.c)."""
    return [part.replace("\\.", ".") for part in re.split(r"(?<!\\)\.", path)]


def at_path(obj: object, path: str) -> object:
    """The value at a kustomize fieldPath (list items by index), or None."""
    for part in field_path(path):
        if isinstance(obj, list) and part.isdigit() and int(part) < len(obj):
            obj = obj[int(part)]
        elif isinstance(obj, dict):
            obj = obj.get(part)
        else:
            return None
    return obj


def network_settings(kust: dict) -> dict[str, str]:
    """The literals of the network settings ConfigMap, {key: value}."""
    for g in kust.get("configMapGenerator", []):
        if g.get("name") == NETWORK_SETTINGS:
            return dict(str(lit).split("=", 1) for lit in g.get("literals", []))
    return {}


def check_built(deploy: str, built: str) -> Findings:
    """The rules on `kubectl kustomize deploy/kubernetes`'s output (file `built`)."""
    found = Findings()
    kust = kustomization(deploy)
    ns = kust.get("namespace")
    objs = load_all(built)
    # Each network setting must have landed where its replacement points.
    settings = network_settings(kust)
    by_kind_name = {(o.get("kind"), o.get("metadata", {}).get("name")): o for o in objs}
    for r in kust.get("replacements", []):
        key = r.get("source", {}).get("fieldPath", "").removeprefix("data.")
        for t in r.get("targets", []):
            sel = t.get("select", {})
            target = by_kind_name.get((sel.get("kind"), sel.get("name")))
            for fp in t.get("fieldPaths", []):
                got = at_path(target, fp)
                found.need(target is not None and str(got) == settings.get(key),
                           f"built {sel.get('kind')}/{sel.get('name')}: {fp} is {got!r}, "
                           f"but the setting {key} is {settings.get(key)!r}")
    for o in objs:
        kind, meta = o.get("kind"), o.get("metadata", {})
        what = f"built {kind}/{meta.get('name')}"
        if kind in CLUSTER_SCOPED:
            continue
        found.need(meta.get("namespace") == ns, f"{what}: namespace {ns!r} expected, found {meta.get('namespace')!r}")
        found.need(not (kind == "ConfigMap" and meta.get("name") == NETWORK_SETTINGS),
                   f"{what}: the network settings must not be applied to the cluster")
    namespaces = [o["metadata"]["name"] for o in objs if o.get("kind") == "Namespace"]
    found.need(namespaces == [ns], f"built: one Namespace {ns!r} expected, found {namespaces}")
    for o in objs:
        if o.get("kind") == "Deployment":
            for c in o["spec"]["template"]["spec"].get("containers", []):
                found.need(re.search(r"@sha256:[0-9a-f]{64}$", str(c.get("image"))),
                           f"built Deployment: image {c.get('image')!r} is not pinned by digest")
        if o.get("kind") == "NetworkPolicy":
            for i, rule in enumerate(o["spec"].get("egress", [])):
                for peer in rule.get("to", []):
                    cidr = peer.get("ipBlock", {}).get("cidr")
                    if cidr is not None:
                        try:
                            ipaddress.ip_network(cidr)
                        except ValueError:
                            found.append(f"built NetworkPolicy: egress[{i}] cidr {cidr!r} is not a network")
                for p in rule.get("ports", []):
                    port = p.get("port")
                    found.need(isinstance(port, int) and 0 < port < 65536,
                               f"built NetworkPolicy: egress[{i}] port {port!r} must be a number from 1 to 65535")
    return found
