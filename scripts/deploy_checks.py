"""Checks of the deployment files and of the running native system (see scripts/check-deploy)."""
import json
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SERVICES = {"users": 8081, "products": 8082, "recommender": 8083, "analytics": 8084}
# The web console: no database, no Redis, no Kafka; it talks to the services' APIs.
CONSOLE = {"console": 8085}


def fail(message):
    print(f"deploy check failed: {message}", file=sys.stderr)
    sys.exit(1)


def dotted_keys(node, prefix=""):
    """Every key of a nested mapping, dotted (`a`, `a.b`, ...)."""
    for key, value in node.items():
        path = f"{prefix}{key}"
        yield path
        if isinstance(value, dict):
            yield from dotted_keys(value, path + ".")


def config_keys(service):
    """Dotted keys of the service's configuration/base.yaml."""
    return set(dotted_keys(yaml.safe_load((ROOT / service / "configuration" / "base.yaml").read_text())))


def check_compose():
    compose = yaml.safe_load((ROOT / "compose.yml").read_text())
    for name, service in compose["services"].items():
        if "healthcheck" not in service:
            fail(f"service {name} has no healthcheck")
        image = service.get("image")
        if image and (":" not in image or image.endswith(":latest")):
            fail(f"service {name} uses an unpinned image {image}")
        if name in SERVICES or name in CONSOLE:
            keys = config_keys(name)
            for variable in service.get("environment", {}):
                if not variable.startswith("APP_") or variable == "APP_ENVIRONMENT":
                    continue
                key = variable[len("APP_"):].lower().replace("__", ".")
                if key not in keys:
                    fail(f"{name}: {variable} names {key}, which configuration/base.yaml does not have")
        for port in service.get("ports", []):
            if not str(port).startswith("127.0.0.1:"):
                fail(f"service {name} publishes {port} on every interface (bind it to 127.0.0.1)")
        if name in SERVICES:
            env = service.get("environment", {})
            if env.get("APP_DATABASE__USERNAME") != name:
                fail(f"{name} does not connect as its own database role")
            if "@redis" not in str(env.get("APP_REDIS__URL", "")):
                fail(f"{name} reaches Redis without a password")
            if name != "users" and "APP_AUTH__SIGNING_KEYS" in env:
                fail(f"{name} holds the token signing key")
    if "--requirepass" not in compose["services"]["redis"].get("command", []):
        fail("Redis runs without a password")
    print(f"compose: {len(compose['services'])} services, healthchecks, pinned images, APP_* names, "
          "loopback ports, own database roles, Redis password and signing key in users only ok")


def get(url, headers=None, body=None, method=None):
    request = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None,
                                     headers={"content-type": "application/json", **(headers or {})}, method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.read().decode()


def admin_login(users):
    """The bootstrap admin's login (the services' own settings, overridable like theirs)."""
    email = os.environ.get("APP_ADMIN__EMAIL", "admin@example.com")
    password = os.environ.get("APP_ADMIN__PASSWORD", "local-admin-password")
    try:
        return get(f"{users}/auth/login", body={"email": email, "password": password})[1]
    except urllib.error.HTTPError as error:
        if error.code == 401:
            sys.exit(f"the native admin {email} does not log in with the configured password (changed "
                     "on this machine?): set APP_ADMIN__PASSWORD, or empty the native data with "
                     "`scripts/run down && scripts/infra reset`")
        raise


def traffic():
    """Exercises every service once, so that the metrics families appear."""
    users, products = "http://127.0.0.1:8081/api/v1", "http://127.0.0.1:8082/api/v1"
    email = f"deploy-check-{uuid.uuid4().hex[:8]}@example.com"
    get(f"{users}/users", body={"email": email, "password": "deploy check password", "display_name": "Check"})
    token = json.loads(get(f"{users}/auth/login", body={"email": email, "password": "deploy check password"})[1])["access_token"]
    admin = json.loads(admin_login(users))["access_token"]
    me = json.loads(get(f"{users}/users/me", {"authorization": f"Bearer {token}"})[1])
    product = json.loads(get(f"{products}/products", {"authorization": f"Bearer {admin}"},
                             {"name": "Check", "category": "Checks", "price": {"amount": "1.00", "currency": "EUR"}})[1])
    get(f"{users}/users/{me['id']}/actions", {"authorization": f"Bearer {token}"}, {"product_id": product["id"], "action": "view"})
    key = {"x-api-key": "local-development-read-key"}
    for _ in range(3):
        time.sleep(2)
        get(f"http://127.0.0.1:8083/api/v1/users/{me['id']}/recommendations", key)
        get("http://127.0.0.1:8084/api/v1/analytics/summary", key)
    time.sleep(6)  # consumer statistics (lag) are reported every 5 s


def dashboard_metrics():
    names = set()
    # PromQL keywords, aggregations and functions: everything else in an expression is a metric.
    functions = {"sum", "min", "max", "avg", "count", "topk", "bottomk", "by", "without", "rate",
                 "irate", "histogram_quantile", "deriv", "increase", "delta", "time", "clamp_min",
                 "clamp_max", "abs", "le", "and", "or", "unless", "offset"}
    for path in (ROOT / "docker" / "grafana" / "dashboards").glob("*.json"):
        dashboard = json.loads(path.read_text())
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                expr = re.sub(r'\{[^}]*\}', "{}", target["expr"])
                expr = re.sub(r"by \([^)]*\)", "", expr)
                expr = re.sub(r"\[[^\]]*\]", "", expr)
                for name in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr):
                    if name not in functions:
                        names.add(name)
    return names


def check_live():
    traffic()
    exposed = set()
    for service, port in SERVICES.items():
        _, text = get(f"http://127.0.0.1:{port}/metrics")
        exposed |= {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}
    missing = sorted(dashboard_metrics() - exposed)
    if missing:
        fail(f"dashboards query metrics no service exposes: {missing}")
    deadline = time.time() + 60
    while True:
        targets = json.loads(get("http://127.0.0.1:9090/api/v1/targets")[1])["data"]["activeTargets"]
        up = {t["labels"]["job"] for t in targets if t["health"] == "up"}
        expected = set(SERVICES) | set(CONSOLE)
        if up == expected:
            break
        if time.time() > deadline:
            fail(f"Prometheus targets up: {sorted(up)}, expected {sorted(expected)}")
        time.sleep(1)
    queries = console_queries()
    for query in queries:
        answer = json.loads(get("http://127.0.0.1:9090/api/v1/query?" + urllib.parse.urlencode({"query": query}))[1])
        if answer.get("status") != "success":
            fail(f"the console's PromQL fails in Prometheus: {query}: {answer}")
    status, _ = get("http://127.0.0.1:8085/login")
    if status != 200:
        fail(f"the console's login page answers {status}")
    print(f"live: every dashboard metric exposed ({len(dashboard_metrics())}), Prometheus has all "
          f"{len(expected)} targets up, the console's {len(queries)} PromQL queries run, its login page answers")


def console_queries():
    """The PromQL of the console's overview (console/src/domain/overview.rs, raw strings)."""
    source = (ROOT / "console" / "src" / "domain" / "overview.rs").read_text()
    return re.findall(r'r#"(.*?)"#', source.split("#[cfg(test)]")[0])


if __name__ == "__main__":
    {"compose": check_compose, "live": check_live}[sys.argv[1]]()
