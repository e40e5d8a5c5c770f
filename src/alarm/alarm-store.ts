// The cluster's active alarms (etcd's v3alarm.AlarmStore): which member raised which alarm
// (NOSPACE when its backend passed the quota, CORRUPT when a corruption check failed). Changed only
// by applied Alarm requests, inside the apply transaction, and kept in the backend so an alarm
// survives restarts and travels in snapshots.
import type { Backend, ReadView } from '../backend/backend';
import { AlarmType, type AlarmMember } from '../pb/types';

const META_ALARMS = 'alarms';

interface StoredAlarm {
  member: string;
  alarm: AlarmType;
}

export class AlarmStore {
  /** In (member, alarm) order, so every member lists them alike. */
  private alarms: StoredAlarm[];

  constructor(private readonly backend: Backend) {
    this.alarms = parse(backend.getMetaBuffer(META_ALARMS));
  }

  /** Raises an alarm; undefined when it was raised already. */
  activate(member: bigint, alarm: AlarmType): AlarmMember | undefined {
    const m = member.toString();
    if (this.alarms.some((a) => a.member === m && a.alarm === alarm)) return undefined;
    this.alarms.push({ member: m, alarm });
    this.alarms.sort(byMemberThenAlarm);
    this.save();
    return { memberID: m, alarm };
  }

  /** Clears an alarm; undefined when it was not raised. */
  deactivate(member: bigint, alarm: AlarmType): AlarmMember | undefined {
    const m = member.toString();
    const i = this.alarms.findIndex((a) => a.member === m && a.alarm === alarm);
    if (i < 0) return undefined;
    this.alarms.splice(i, 1);
    this.save();
    return { memberID: m, alarm };
  }

  /** The alarms of one type, or all of them for NONE (etcd's Get). */
  get(alarm: AlarmType): AlarmMember[] {
    return this.alarms.filter((a) => alarm === AlarmType.NONE || a.alarm === alarm).map((a) => ({ memberID: a.member, alarm: a.alarm }));
  }

  has(alarm: AlarmType): boolean {
    return this.alarms.some((a) => a.alarm === alarm);
  }

  /** The stored form, for a snapshot taken from a read view. */
  exportJson(view: ReadView): string {
    return (this.backend.getMetaBuffer(META_ALARMS, view) ?? Buffer.from('[]')).toString('utf8');
  }

  /** Inside the transaction that installs a snapshot. */
  restore(json: string): void {
    this.alarms = parse(Buffer.from(json));
    this.save();
  }

  private save(): void {
    this.backend.putMetaBuffer(META_ALARMS, Buffer.from(JSON.stringify(this.alarms)));
  }
}

/**
 * etcd's text for an alarm (gogoproto's CompactTextString, trailing space included), as Status
 * lists it. Zero fields are left out: CORRUPT raised for the cluster (member 0) is `alarm:CORRUPT `.
 */
export function alarmText(a: AlarmMember): string {
  return `${String(a.memberID) === '0' ? '' : `memberID:${a.memberID} `}alarm:${AlarmType[a.alarm] ?? a.alarm} `;
}

function byMemberThenAlarm(a: StoredAlarm, b: StoredAlarm): number {
  const am = BigInt(a.member);
  const bm = BigInt(b.member);
  return am < bm ? -1 : am > bm ? 1 : a.alarm - b.alarm;
}

function parse(stored: Buffer | undefined): StoredAlarm[] {
  if (stored === undefined) return [];
  const v: unknown = JSON.parse(stored.toString('utf8'));
  if (!Array.isArray(v)) return [];
  return v
    .filter((x): x is StoredAlarm => typeof x === 'object' && x !== null && typeof (x as StoredAlarm).member === 'string' && typeof (x as StoredAlarm).alarm === 'number')
    .sort(byMemberThenAlarm);
}
