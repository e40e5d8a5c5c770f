#!/usr/bin/env python3
"""Drives one etcd server's Maintenance service with python-etcd3 (Debian's python3-etcd3 0.12),
doing what python-etcd3's own tests do for status, hash, snapshot and alarms (tests/test_etcd3.py:
test_status_member, test_hash, test_snapshot, TestAlarms), then the NOSPACE flow behind them:
fill past --quota-backend-bytes, then compact + defragment + disarm.

Usage: maintenance.py HOST:PORT SNAPSHOT_FILE
Prints one JSON object per step on stdout: {"step": ..., ...}. Member IDs are printed as strings
(uint64) and also as "self" / 0 where python-etcd3's tests compare them, so two servers' outputs
can be compared with the IDs aside. Exits 0 once every step ran, whatever the answers were; the
node test (test/python-etcd3.test.ts) asserts the outcomes.
"""
import json
import os
import sys

import grpc

import etcd3
import etcd3.etcdrpc as etcdrpc

VALUE = 'x' * 20000
ALARM_NAMES = {etcdrpc.NONE: 'NONE', etcdrpc.NOSPACE: 'NOSPACE'}
if hasattr(etcdrpc, 'CORRUPT'):
    ALARM_NAMES[etcdrpc.CORRUPT] = 'CORRUPT'


def emit(step, **fields):
    fields = dict(step=step, **fields)
    sys.stdout.write(json.dumps(fields, sort_keys=True) + '\n')
    sys.stdout.flush()


def error(exc):
    """An exception as data: python-etcd3 turns some gRPC codes into its own exceptions."""
    out = {'type': type(exc).__name__}
    if isinstance(exc, grpc.RpcError):
        out['code'] = exc.code().name
        out['details'] = exc.details()
    else:
        out['message'] = str(exc)
    return out


def attempt(fn):
    try:
        return {'ok': True, 'value': fn()}
    except Exception as exc:  # noqa: BLE001 - every failure is reported as data
        return {'ok': False, 'error': error(exc)}


def alarms(seq, self_id):
    """Alarms as [type, member] pairs, the member as 0, "self" or the raw ID, sorted."""
    out = []
    for a in seq:
        member = a.member_id
        if member == self_id:
            member = 'self'
        elif member != 0:
            member = str(member)
        out.append([ALARM_NAMES.get(a.alarm_type, a.alarm_type), member])
    return sorted(out, key=lambda p: json.dumps(p))


def main():
    host, port = sys.argv[1].rsplit(':', 1)
    snapshot_file = sys.argv[2]
    etcd = etcd3.client(host=host, port=int(port), timeout=30)

    members = list(etcd.members)
    self_id = members[0].id
    emit('members', count=len(members), ids=[str(m.id) for m in members], names=[m.name for m in members])

    def cleanup_alarms():
        # TestAlarms' fixture: disarm for all members, then each member that has alarms (a
        # generator, so always truthy: every member is disarmed).
        etcd.disarm_alarm()
        for m in etcd.members:
            if m.active_alarms:
                etcd.disarm_alarm(m.id)

    # test_status_member
    st = etcd.status()
    emit('status', version=st.version, db_size=st.db_size, raft_index=st.raft_index, raft_term=st.raft_term,
         leader_is_member=isinstance(st.leader, etcd3.members.Member),
         leader_in_members=st.leader is not None and st.leader.id in [m.id for m in etcd.members],
         leader_is_self=st.leader is not None and st.leader.id == self_id)

    # test_hash
    h = etcd.hash()
    emit('hash', is_int=isinstance(h, int), hash=h)

    # test_snapshot, on a store with something in it.
    for i in range(10):
        etcd.put('/doot/snap/%d' % i, 'v%d' % i)
    etcd.delete('/doot/snap/0')
    with open(snapshot_file, 'wb') as f:
        r = attempt(lambda: etcd.snapshot(f))
        f.flush()
    emit('snapshot', ok=r['ok'], error=r.get('error'), size=os.path.getsize(snapshot_file))

    # TestAlarms.test_create_alarm_all_members
    r = attempt(lambda: alarms(etcd.create_alarm(), self_id))
    emit('create_alarm_all_members', **r)
    # While an alarm is active (for "member 0"), a put is refused as on a full store.
    emit('put_while_alarm_all_members', **attempt(lambda: etcd.put('/doot/alarmed', 'v') and None))
    emit('list_member_alarms', value=alarms(etcd.list_alarms(member_id=self_id), self_id))
    cleanup_alarms()
    emit('after_cleanup_1', value=alarms(etcd.list_alarms(), self_id))

    # TestAlarms.test_create_alarm_specific_member
    emit('create_alarm_specific_member', **attempt(lambda: alarms(etcd.create_alarm(member_id=self_id), self_id)))
    cleanup_alarms()
    emit('after_cleanup_2', value=alarms(etcd.list_alarms(), self_id))

    # TestAlarms.test_list_alarms
    etcd.create_alarm()
    etcd.create_alarm(member_id=self_id)
    emit('list_alarms', value=alarms(etcd.list_alarms(), self_id))
    cleanup_alarms()
    emit('after_cleanup_3', value=alarms(etcd.list_alarms(), self_id))

    # TestAlarms.test_disarm_alarm
    etcd.create_alarm()
    before = alarms(etcd.list_alarms(), self_id)
    disarmed = alarms(etcd.disarm_alarm(), self_id)
    emit('disarm_alarm', before=before, disarmed=disarmed, after=alarms(etcd.list_alarms(), self_id))
    cleanup_alarms()
    emit('put_after_disarm', **attempt(lambda: etcd.put('/doot/after-disarm', 'v') and None))

    # The real NOSPACE: fill past the quota, then what works and what does not.
    written = 0
    refused = None
    for i in range(1000):
        try:
            etcd.put('/fill/%04d' % i, VALUE)
            written += 1
        except Exception as exc:  # noqa: BLE001
            refused = error(exc)
            break
    emit('fill', written=written, refused=refused)
    emit('nospace_alarms', value=alarms(etcd.list_alarms(), self_id))
    emit('nospace_status', db_size_positive=etcd.status().db_size > 0)
    emit('nospace_put', **attempt(lambda: etcd.put('/doot/small', 'v') and None))
    emit('nospace_lease', **attempt(lambda: etcd.lease(10) and None))
    emit('nospace_get', **attempt(lambda: etcd.get('/doot/snap/1')[0].decode()))
    emit('nospace_delete_prefix', **attempt(lambda: etcd.delete_prefix('/fill/').deleted))
    _, meta = etcd.get('/doot/snap/1')  # the reply header carries the store's revision
    header_rev = meta.response_header.revision
    emit('nospace_compact', **attempt(lambda: etcd.compact(header_rev, physical=True)))
    emit('nospace_hash', is_int=isinstance(etcd.hash(), int))
    emit('defragment', **attempt(lambda: etcd.defragment()))
    emit('put_before_disarm', **attempt(lambda: etcd.put('/doot/small', 'v') and None))
    emit('disarm_nospace', **attempt(lambda: alarms(etcd.disarm_alarm(member_id=self_id), self_id)))
    emit('alarms_after_disarm', value=alarms(etcd.list_alarms(), self_id))
    emit('put_after_nospace', **attempt(lambda: etcd.put('/doot/small', 'v') and None))
    emit('get_after_nospace', value=etcd.get('/doot/small')[0].decode())
    etcd.close()


if __name__ == '__main__':
    main()
