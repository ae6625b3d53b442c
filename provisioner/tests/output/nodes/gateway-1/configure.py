"""Writes the configuration of gateway-1 (acme-prod) into the product's
home, from the bundle aerie rendered for it: every __SECRET(name)__ reference
resolved from Secrets Manager with the node's instance role (the `aws` CLI),
each file readable by its owner only; a `.fragment` file replaces the element
of the same name in the distribution's file (appended to its root when the
file has none). Run by configure.sh as `configure.py BUNDLE HOME`; safe to run
again. Never prints a secret."""
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
