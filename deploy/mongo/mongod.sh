#!/bin/sh
# One member of a MongoDB replica set (a config server or a shard), with keyfile auth.
#   mongod.sh configsvr|shardsvr REPLSET HOST1:PORT HOST2:PORT HOST3:PORT
# The member named first initiates the set through the localhost exception (no user exists
# yet, so only a connection from inside its own container may) and then creates the set's
# local administrator, which closes that exception. Both steps are skipped once done, so
# restarts are harmless. Needs MONGO_ADMIN_USER / MONGO_ADMIN_PASSWORD and the keyfile at
# /etc/mongo-keyfile/keyfile.
set -eu
role=$1 set=$2
shift 2
first=$1
# mongod insists on a keyfile only its own user can read
install -m 0400 /etc/mongo-keyfile/keyfile /tmp/keyfile

mongod "--$role" --replSet "$set" --port 27017 --bind_ip_all \
    --keyFile /tmp/keyfile --dbpath /data/db &
pid=$!
trap 'kill -TERM $pid; wait $pid' TERM INT

if [ "$(hostname)" = "${first%%[.:]*}" ]; then
    until mongosh --quiet --eval 'db.adminCommand({ping: 1})' >/dev/null 2>&1; do sleep 1; done
    members="" i=0
    for host in "$@"; do
        members="$members{_id: $i, host: '$host'},"
        i=$((i + 1))
    done
    configsvr=false
    [ "$role" = configsvr ] && configsvr=true
    # hello needs no authentication: it tells whether the set has a config yet
    mongosh --quiet --eval "
        if (!db.hello().setName) {
            rs.initiate({_id: '$set', configsvr: $configsvr, members: [$members],
                         writeConcernMajorityJournalDefault: true});
        }
        while (!db.hello().isWritablePrimary) sleep(500);
        try {
            db.getSiblingDB('admin').createUser({user: '$MONGO_ADMIN_USER',
                pwd: '$MONGO_ADMIN_PASSWORD', roles: ['root']});
        } catch (e) {
            // a user exists already (the localhost exception is closed): nothing to do
            if (e.codeName !== 'Unauthorized' && e.code !== 51003) throw e;
        }" || true
fi
wait $pid
