#!/bin/sh
# A mongos router: routes to the config servers and, once, creates the cluster's users and
# adds the shards (through the localhost exception while no user exists; afterwards as the
# administrator). Idempotent, so any number of mongos may run it at once.
#   mongos.sh CONFIG_REPLSET/HOST:PORT,... SHARD_REPLSET/HOST:PORT,... [SHARD…]
# Needs MONGO_ADMIN_USER / MONGO_ADMIN_PASSWORD, FULMAR_DB_USER / FULMAR_DB_PASSWORD and the
# keyfile at /etc/mongo-keyfile/keyfile.
set -eu
configdb=$1
shift
install -m 0400 /etc/mongo-keyfile/keyfile /tmp/keyfile

mongos --configdb "$configdb" --port 27017 --bind_ip_all --keyFile /tmp/keyfile &
pid=$!
trap 'kill -TERM $pid; wait $pid' TERM INT

until mongosh --quiet --eval 'db.adminCommand({ping: 1})' >/dev/null 2>&1; do sleep 1; done
admin="mongodb://$MONGO_ADMIN_USER:$MONGO_ADMIN_PASSWORD@127.0.0.1:27017/admin"
# the first user of the cluster (kept on the config servers), unless one exists
mongosh --quiet --eval "
    try {
        db.getSiblingDB('admin').createUser({user: '$MONGO_ADMIN_USER',
            pwd: '$MONGO_ADMIN_PASSWORD', roles: ['root']});
    } catch (e) { if (e.codeName !== 'Unauthorized' && e.code !== 51003) throw e; }" || true
shards=""
for shard in "$@"; do shards="$shards'$shard',"; done
until mongosh "$admin" --quiet --eval "
    for (const shard of [$shards]) sh.addShard(shard);   // a known shard is a no-op
    const fulmar = db.getSiblingDB('admin');
    if (!fulmar.getUser('$FULMAR_DB_USER')) {
        // the nodes' user: data only; 'fulmar mongo init' runs as the administrator
        fulmar.createUser({user: '$FULMAR_DB_USER', pwd: '$FULMAR_DB_PASSWORD',
                           roles: [{role: 'readWrite', db: 'fulmar'}]});
    }"; do
    sleep 2  # the shards' primaries may not be elected yet
done
touch /tmp/ready
wait $pid
