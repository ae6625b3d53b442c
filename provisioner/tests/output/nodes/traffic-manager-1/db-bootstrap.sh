#!/bin/sh
# Creates the product databases of acme-prod and the product's user,
# once, from a node with the mysql client. Idempotent. Reads the master and
# product passwords from Secrets Manager at run time with the node's
# instance role; neither is written to disk or put on a command line.
set -eu
secret() {
  aws secretsmanager get-secret-value --region "eu-west-1" --secret-id "$1" --query SecretString --output text
}
master="$(secret "aerie/acme-prod/rds-master")"
product="$(secret "aerie/acme-prod/product-db")"
here="$(cd "$(dirname "$0")" && pwd)"
{
  printf "SET @product_password = '%s';\n" "$(printf '%s' "$product" | sed "s/'/''/g")"
  cat "$here/db-bootstrap.sql"
} | MYSQL_PWD="$master" mysql --host "db.acme.internal" --user "aerieadmin" --batch
