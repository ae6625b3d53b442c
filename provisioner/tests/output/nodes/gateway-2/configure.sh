#!/bin/sh
# Puts the configuration of gateway-2 (acme-prod) in place, from the
# bundle aerie rendered for it; run at boot by aerie-node-boot, and safe to
# run again. Every __SECRET(name)__ reference is resolved from Secrets
# Manager with the node's instance role, into files only the product's user
# can read; `.fragment` files replace the element of the same name in the
# distribution's file. Then the product and the agent run as services.
set -eu
bundle="$(cd "$(dirname "$0")" && pwd)"
home="/opt/wso2am-2.0.0"
export AWS_DEFAULT_REGION="eu-west-1"
id wso2 >/dev/null 2>&1 || useradd --system --home-dir "$home" --shell /sbin/nologin wso2
python3 - "$bundle" "$home" <<'PY'
import os, re, subprocess, sys
import xml.etree.ElementTree as ET

bundle, home = sys.argv[1], sys.argv[2]
names = {
    "rds-master-password": "aerie/acme-prod/rds-master",
    "product-db-password": "aerie/acme-prod/product-db",
    "admin-password": "aerie/acme-prod/product-admin",
    "ingest-token": "aerie/acme-prod/ingest-token",
}
values = {}

def secret(match):
    role = match.group(1)
    if role not in values:
        values[role] = subprocess.run(
            ["aws", "secretsmanager", "get-secret-value", "--secret-id", names[role],
             "--query", "SecretString", "--output", "text"],
            check=True, capture_output=True, text=True).stdout.rstrip("\n")
    return values[role]

def local(tag):
    return tag.rsplit("}", 1)[-1]

def splice(target, text):
    for _, (prefix, uri) in ET.iterparse(target, events=["start-ns"]):
        ET.register_namespace(prefix, uri)
    tree = ET.parse(target)
    fragment = ET.fromstring(text)
    for parent in tree.getroot().iter():
        for index, child in enumerate(list(parent)):
            if local(child.tag) == local(fragment.tag):
                fragment.tag = child.tag
                parent.remove(child)
                parent.insert(index, fragment)
                return tree
    tree.getroot().append(fragment)
    return tree

for root, _, files in os.walk(os.path.join(bundle, "repository")):
    for name in files:
        source = os.path.join(root, name)
        relative = os.path.relpath(source, bundle)
        text = re.sub(r"__SECRET\(([a-z-]+)\)__", secret, open(source).read())
        target = os.path.join(home, relative.removesuffix(".fragment"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        old = os.umask(0o077)
        if relative.endswith(".fragment"):
            splice(target, text).write(target, encoding="utf-8", xml_declaration=True)
        else:
            with open(target, "w") as out:
                out.write(text)
        os.umask(old)
        os.chmod(target, 0o600)
PY
chown -R wso2: "$home"
install -d -m 0750 /etc/aerie
install -m 0640 "$bundle/aerie-agent.toml" /etc/aerie/agent.toml
umask 077
aws secretsmanager get-secret-value --secret-id "aerie/acme-prod/ingest-token" --query SecretString --output text > /etc/aerie/agent.token
umask 022
if [ ! -x /usr/local/bin/aerie-agent ]; then
  aws s3 cp --only-show-errors "s3://aerie-acme-prod-eu-west-1-artifacts/dist/aerie-agent" /usr/local/bin/aerie-agent
  chmod 0755 /usr/local/bin/aerie-agent
fi
cat > /etc/systemd/system/wso2am.service <<UNIT
[Unit]
Description=WSO2 API Manager 2.0.0 (gateway-2)
After=network-online.target
[Service]
User=wso2
ExecStart=$home/bin/wso2server.sh
Restart=on-failure
[Install]
WantedBy=multi-user.target
UNIT
cat > /etc/systemd/system/aerie-agent.service <<UNIT
[Unit]
Description=aerie-agent (gateway-2)
After=network-online.target
[Service]
ExecStart=/usr/local/bin/aerie-agent run --config /etc/aerie/agent.toml
Restart=on-failure
[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable --now wso2am.service aerie-agent.service
