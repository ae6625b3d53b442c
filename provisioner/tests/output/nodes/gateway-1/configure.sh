#!/bin/sh
# Puts the configuration of gateway-1 (acme-prod) in place, from the
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
Description=WSO2 API Manager 2.0.0 (gateway-1)
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
Description=aerie-agent (gateway-1)
After=network-online.target
[Service]
ExecStart=/usr/local/bin/aerie-agent run --config /etc/aerie/agent.toml
Restart=on-failure
[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable --now wso2am.service aerie-agent.service
