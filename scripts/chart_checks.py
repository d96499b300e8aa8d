"""Checks of the Helm chart's rendered manifests, offline (see scripts/check-chart).

    python3 scripts/chart_checks.py <kubernetes-validate> <rendered.yaml>...

For every rendered value set: core objects validate in strict mode against the Kubernetes
OpenAPI schemas shipped by kubernetes-validate (the oldest and newest versions the chart
supports); custom resources have the apiVersion, kind and fields their operators require; and
the policies hold: pinned images, non-root read-only containers without privilege escalation,
requests and limits, no Secret and no secret value in the chart, consumers bounded by the
partitions, each service's egress limited to what it uses, settings that the services read.
"""
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from deploy_checks import config_keys, dotted_keys

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "charts" / "recplatform"
# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest schema shipped.
KUBERNETES_VERSIONS = ["1.28.0", "1.37.0"]
SERVICES = ["users", "products", "recommender", "analytics", "console"]
CUSTOM = {
    "ServiceMonitor": ("monitoring.coreos.com/v1", ["spec.selector", "spec.endpoints"]),
    "PrometheusRule": ("monitoring.coreos.com/v1", ["spec.groups"]),
    "KafkaTopic": ("kafka.strimzi.io/v1beta2", ["spec.topicName", "spec.partitions", "spec.replicas", "metadata.labels.strimzi.io/cluster"]),
    "Kafka": ("kafka.strimzi.io/v1beta2", ["spec.kafka.version", "spec.kafka.listeners", "=spec.entityOperator.topicOperator"]),
    "KafkaNodePool": ("kafka.strimzi.io/v1beta2", ["spec.replicas", "spec.roles", "spec.storage", "metadata.labels.strimzi.io/cluster"]),
    "Cluster": ("postgresql.cnpg.io/v1", ["spec.instances", "spec.storage.size", "spec.bootstrap.initdb.database", "spec.bootstrap.initdb.owner"]),
}
# Variables whose last word is one of these hold secrets.
SECRET_WORDS = ("PASSWORD", "KEY", "KEYS", "SECRET", "TOKEN")


def fail(message):
    print(f"chart check failed: {message}", file=sys.stderr)
    sys.exit(1)


def lookup(document, dotted):
    """The value at a dotted path whose last part may itself hold dots (label names)."""
    node = document
    parts = dotted.split(".")
    i = 0
    while i < len(parts):
        if not isinstance(node, dict):
            return None
        # Longest key first: "strimzi.io/cluster" is one label.
        for j in range(len(parts), i, -1):
            key = ".".join(parts[i:j])
            if key in node:
                node = node[key]
                i = j
                break
        else:
            return None
    return node


def containers(document):
    spec = document.get("spec", {}).get("template", {}).get("spec", {})
    return spec, spec.get("containers", []) + spec.get("initContainers", [])


def check_custom(document, name):
    kind = document["kind"]
    api, required = CUSTOM[kind]
    if document.get("apiVersion") != api:
        fail(f"{name}: {kind} has apiVersion {document.get('apiVersion')}, expected {api}")
    for path in required:
        # "=path": present is enough (an empty object turns an operator's defaults on).
        value = lookup(document, path.lstrip("="))
        if value is None or (not path.startswith("=") and value in ("", [], {})):
            fail(f"{name}: {kind} {document['metadata']['name']} lacks {path}")
    if kind == "KafkaTopic" and not isinstance(document["spec"]["partitions"], int):
        fail(f"{name}: KafkaTopic partitions must be a number")
    if kind == "PrometheusRule":
        alerts = yaml.safe_load((ROOT / "docker" / "prometheus" / "alerts.yml").read_text())
        if document["spec"] != alerts:
            fail(f"{name}: the PrometheusRule differs from docker/prometheus/alerts.yml")


def check_policies(documents, name):
    kinds = {}
    for document in documents:
        kinds.setdefault(document["kind"], []).append(document)
    if "Secret" in kinds:
        fail(f"{name}: the chart renders a Secret (secrets are referenced, never held)")
    deployments = {d["metadata"]["labels"]["app.kubernetes.io/name"]: d for d in kinds.get("Deployment", [])}
    for service, deployment in deployments.items():
        pod, all_containers = containers(deployment)
        if pod.get("automountServiceAccountToken") is not False:
            fail(f"{name}: {service} mounts a service account token")
        if not pod.get("securityContext", {}).get("runAsNonRoot"):
            fail(f"{name}: {service}'s pod may run as root")
        for container in all_containers:
            image = container["image"]
            tag = image.rsplit(":", 1)[-1] if "@" not in image else None
            if "@sha256:" not in image and (":" not in image.split("/")[-1] or tag == "latest"):
                fail(f"{name}: {service} uses an unpinned image {image}")
            security = container.get("securityContext", {})
            for key, expected in [("runAsNonRoot", True), ("readOnlyRootFilesystem", True), ("allowPrivilegeEscalation", False)]:
                if security.get(key) is not expected:
                    fail(f"{name}: {service}: securityContext.{key} is not {expected}")
            if "ALL" not in security.get("capabilities", {}).get("drop", []):
                fail(f"{name}: {service} keeps Linux capabilities")
            resources = container.get("resources", {})
            for part in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    if resource not in resources.get(part, {}):
                        fail(f"{name}: {service} sets no {part}.{resource}")
            for probe in ("livenessProbe", "readinessProbe"):
                if probe not in container:
                    fail(f"{name}: {service} has no {probe}")
            if container["readinessProbe"]["httpGet"]["path"] != "/ready" or container["livenessProbe"]["httpGet"]["path"] != "/health":
                fail(f"{name}: {service}'s probes are not /ready and /health")
            for variable in container.get("env", []):
                secretish = variable["name"].rsplit("_", 1)[-1] in SECRET_WORDS
                if secretish and "value" in variable:
                    fail(f"{name}: {service} sets {variable['name']} as a value, not from a Secret")
                if variable["name"] == "APP_REDIS__URL" and "$(REDIS_PASSWORD)" not in variable["value"]:
                    fail(f"{name}: {service}'s Redis URL carries no password reference")
    # Settings in the ConfigMaps are keys the services read.
    for config_map in kinds.get("ConfigMap", []):
        service = config_map["metadata"]["labels"].get("app.kubernetes.io/name")
        if service not in SERVICES or "production.yaml" not in config_map["data"]:
            continue
        settings = yaml.safe_load(config_map["data"]["production.yaml"]) or {}
        unknown = sorted(set(dotted_keys(settings)) - config_keys(service))
        if unknown:
            fail(f"{name}: {service}'s settings name {unknown[0]}, which {service}/configuration/base.yaml does not have")
    # Consumers never outnumber the partitions.
    partitions = None
    for deployment in deployments.values():
        for variable in containers(deployment)[1][0].get("env", []):
            if variable["name"] == "APP_KAFKA__PARTITIONS":
                partitions = int(variable["value"])
    for hpa in kinds.get("HorizontalPodAutoscaler", []):
        service = hpa["metadata"]["labels"]["app.kubernetes.io/name"]
        if service in ("recommender", "analytics") and hpa["spec"]["maxReplicas"] > partitions:
            fail(f"{name}: {service} may scale to {hpa['spec']['maxReplicas']} replicas, beyond {partitions} partitions")
    # Each service's egress: DNS, its own database, Redis if it uses it, Kafka if it uses it.
    for policy in kinds.get("NetworkPolicy", []):
        service = policy["metadata"]["labels"]["app.kubernetes.io/name"]
        ports = {port["port"] for rule in policy["spec"].get("egress", []) for port in rule.get("ports", [])}
        uses_redis = service in ("recommender", "analytics")
        if uses_redis != any(p in ports for p in (6379, 6380)):
            fail(f"{name}: {service}'s egress to Redis is {'missing' if uses_redis else 'allowed but unused'}")
        uses_postgres = service != "console"
        if uses_postgres != (5432 in ports):
            fail(f"{name}: {service}'s egress to PostgreSQL is {'missing' if uses_postgres else 'allowed but unused'}")
        for rule in policy["spec"].get("egress", []):
            for peer in rule.get("to", []):
                cluster = peer.get("podSelector", {}).get("matchLabels", {}).get("cnpg.io/cluster")
                if cluster and not cluster.endswith(f"-{service}-db"):
                    fail(f"{name}: {service} may reach another service's database {cluster}")
    if deployments and kinds.get("NetworkPolicy") and set(deployments) != {p["metadata"]["labels"]["app.kubernetes.io/name"] for p in kinds["NetworkPolicy"]}:
        fail(f"{name}: not every service has a NetworkPolicy")


def validate_core(documents, name, validator):
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for i, document in enumerate(documents):
            path = Path(folder) / f"{i:03d}-{document['kind']}.yaml"
            path.write_text(yaml.safe_dump(document))
            paths.append(str(path))
        for version in KUBERNETES_VERSIONS:
            result = subprocess.run([validator, "--strict", "--quiet", "-k", version, *paths],
                                    capture_output=True, text=True)
            if result.returncode != 0:
                fail(f"{name}: strict validation against Kubernetes {version} failed:\n{result.stdout}{result.stderr}")
    return len(documents)


def main():
    validator, rendered = sys.argv[1], sys.argv[2:]
    dashboard = json.loads((CHART / "files" / "dashboards" / "overview.json").read_text())
    if dashboard != json.loads((ROOT / "docker" / "grafana" / "dashboards" / "overview.json").read_text()):
        fail("files/dashboards/overview.json differs from docker/grafana/dashboards/overview.json")
    for path in rendered:
        name = Path(path).stem
        documents = [d for d in yaml.safe_load_all(Path(path).read_text()) if d]
        core = [d for d in documents if d["kind"] not in CUSTOM]
        custom = [d for d in documents if d["kind"] in CUSTOM]
        for document in custom:
            check_custom(document, name)
        validated = validate_core(core, name, validator)
        check_policies(documents, name)
        counts = {}
        for document in documents:
            counts[document["kind"]] = counts.get(document["kind"], 0) + 1
        summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
        print(f"{name}: {validated} core objects valid (strict, Kubernetes {' and '.join(KUBERNETES_VERSIONS)}), "
              f"{len(custom)} custom resources checked, policies hold ({summary})")


if __name__ == "__main__":
    main()
