#!/bin/sh
# Puts the configuration of gateway-2 (acme-prod) in place, from the
# bundle aerie rendered for it; run at boot by aerie-node-boot, and safe to
# run again. configure.py writes the product's files (secrets resolved,
# fragments spliced); then the agent's token and config, the database
# bootstrap (first traffic manager), and the product and the agent run as
# services.
set -eu
bundle="$(cd "$(dirname "$0")" && pwd)"
home="/opt/wso2am-2.0.0"
export AWS_DEFAULT_REGION="eu-west-1"
id wso2 >/dev/null 2>&1 || useradd --system --home-dir "$home" --shell /sbin/nologin wso2
python3 "$bundle/configure.py" "$bundle" "$home"
chown -R wso2: "$home"
# The agent: its config and token first, then its package, whose
# post-install gives both to the aerie-agent group (0640) and starts it. It
# runs as the product's user (a drop-in): the JVM's hsperfdata file is that
# user's alone, and so are the logs.
install -d -m 0755 /etc/aerie
install -m 0640 "$bundle/aerie-agent.toml" /etc/aerie/agent.toml
umask 077
aws secretsmanager get-secret-value --secret-id "aerie/acme-prod/ingest-token" --query SecretString --output text > /etc/aerie/agent.token
umask 022
install -d /etc/systemd/system/aerie-agent.service.d
cat > /etc/systemd/system/aerie-agent.service.d/product.conf <<UNIT
[Service]
User=wso2
Group=wso2
SupplementaryGroups=aerie-agent
UNIT
package="dist/aerie-agent_0.1.0_amd64.deb"
wanted="$(basename "$package" .deb | cut -d_ -f2)"
if [ "$(dpkg-query -W -f='${Version}' aerie-agent 2>/dev/null || true)" != "$wanted" ]; then
  install -d -m 0700 /var/cache/aerie
  aws s3 cp --only-show-errors "s3://aerie-acme-prod-eu-west-1-artifacts/$package" /var/cache/aerie/aerie-agent.deb
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q /var/cache/aerie/aerie-agent.deb
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
systemctl daemon-reload
systemctl enable --now wso2am.service
systemctl enable aerie-agent.service
systemctl restart aerie-agent.service
