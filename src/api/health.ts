// grpc.health.v1.Health on the client gRPC server, with grpc-go's health server behaviour (which
// etcd registers): one service known, "" (all of etcd's services); Check of any other name fails
// NOT_FOUND "unknown service"; Watch sends the status at once and again on every change, and
// SERVICE_UNKNOWN for other names (keeping the stream open, as grpc-go does).
// Status: SERVING while this member knows a leader, NOT_SERVING otherwise (issue 15). Real etcd
// 3.4/3.5 set SERVING once at start and leave it (3.5 flips it only around a defrag with
// --experimental-stop-grpc-service-on-defrag).
import type * as grpc from '@grpc/grpc-js';
import { ServingStatus, type HealthCheckRequest, type HealthCheckResponse } from '../pb/types';
import type { MemberApi } from './member-api';

/** gRPC's NOT_FOUND status code. */
const NOT_FOUND = 5;

/** etcd's allGRPCServices: the one service name its health server knows. */
const ALL_SERVICES = '';

type HealthMember = Pick<MemberApi, 'hasLeader' | 'onLeaderChange'>;

export interface HealthService {
  Check: grpc.handleUnaryCall<HealthCheckRequest, HealthCheckResponse>;
  Watch: grpc.handleServerStreamingCall<HealthCheckRequest, HealthCheckResponse>;
}

export function healthService(member: HealthMember): HealthService {
  const status = (): ServingStatus => (member.hasLeader() ? ServingStatus.SERVING : ServingStatus.NOT_SERVING);
  return {
    Check: (call, callback) => {
      if (call.request.service !== ALL_SERVICES) return callback({ code: NOT_FOUND, details: 'unknown service' });
      callback(null, { status: status() });
    },
    Watch: (call) => {
      if (call.request.service !== ALL_SERVICES) {
        call.write({ status: ServingStatus.SERVICE_UNKNOWN });
        return;
      }
      let last = status();
      call.write({ status: last });
      const unsubscribe = member.onLeaderChange(() => {
        const now = status();
        if (now === last || call.cancelled) return;
        last = now;
        call.write({ status: now });
      });
      call.on('cancelled', unsubscribe);
      call.on('close', unsubscribe);
      call.on('error', unsubscribe);
    },
  };
}
