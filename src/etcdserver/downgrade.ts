// Maintenance.Downgrade as etcd 3.5 serves it (its v3_server.go Downgrade, downgradeValidate,
// downgradeEnable, downgradeCancel): VALIDATE checks a target against the cluster version and the
// cluster's downgrade record, ENABLE validates then records the downgrade through Raft, CANCEL
// records its end. The record lives in membership (membership/downgrade.ts) and changes only by
// applied entries, so every member answers from the same state once it has read up to date.
// Not done: etcd's leader watches an enabled downgrade (monitorDowngrade, every
// --experimental-downgrade-check-time) and cancels it once every member's server version is the
// target. Every etcd-ts member runs ETCD_VERSION (3.5.x) and no etcd 3.4 can join an etcd-ts
// cluster (another peer protocol), so that check could never succeed: it is left out.
import type { Logger } from 'pino';
import { allowedDowngradeVersion, parseClusterVersion, sameMinor, versionText, type DowngradeInfo, type MinorVersion } from '../membership/downgrade';
import { DowngradeAction, type DowngradeInfoSetRequest, type DowngradeRequest, type DowngradeResponse } from '../pb/types';
import { Errors } from '../errors';
import type { Caller } from './pipeline';

export interface DowngraderDeps {
  /** The cluster version the member reports (/version's etcdcluster), e.g. "3.5.0". */
  clusterVersion: string;
  /** Waits until this member has applied everything committed before the call (ReadIndex). */
  readBarrier(): Promise<void>;
  /** The cluster's downgrade record as this member applied it. */
  info(): DowngradeInfo | undefined;
  /** Proposes a DowngradeInfoSet (as the caller) and resolves once this member applied it. */
  propose(req: DowngradeInfoSetRequest, caller: Caller | undefined): Promise<void>;
  log: Logger;
}

export class Downgrader {
  private readonly clusterVersion: MinorVersion;

  constructor(private readonly d: DowngraderDeps) {
    const cv = parseClusterVersion(d.clusterVersion);
    // etcd answers `cluster version not found during downgrade` before its cluster version is
    // decided; ours is fixed at build time, so a bad one is a bug, not an answer.
    if (cv === undefined) throw new Error(`cluster version ${JSON.stringify(d.clusterVersion)} is not a version`);
    this.clusterVersion = cv;
  }

  /** The answer to a DowngradeRequest (without its header), or etcd's error. */
  downgrade(req: DowngradeRequest, caller?: Caller): Promise<DowngradeResponse> {
    switch (req.action) {
      case DowngradeAction.VALIDATE:
        return this.validate(req.version);
      case DowngradeAction.ENABLE:
        return this.enable(req.version, caller);
      case DowngradeAction.CANCEL:
        return this.cancel(caller);
      default:
        return Promise.reject(Errors.unknownMethod());
    }
  }

  /** A bad format is refused before the read; the rest is decided on up-to-date state. */
  private async validate(version: string): Promise<DowngradeResponse> {
    const target = parseClusterVersion(version);
    if (target === undefined) throw Errors.downgradeWrongVersionFormat();
    await this.d.readBarrier();
    if (!sameMinor(target, allowedDowngradeVersion(this.clusterVersion))) throw Errors.downgradeInvalidTargetVersion();
    if (this.d.info()?.enabled === true) throw Errors.downgradeInProgress();
    return this.response();
  }

  private async enable(version: string, caller: Caller | undefined): Promise<DowngradeResponse> {
    try {
      await this.validate(version);
      const target = parseClusterVersion(version);
      if (target === undefined) throw Errors.downgradeWrongVersionFormat();
      await this.d.propose({ enabled: true, ver: versionText(target) }, caller);
    } catch (err) {
      this.d.log.warn({ error: err instanceof Error ? err.message : String(err) }, 'reject downgrade request');
      throw err;
    }
    return this.response();
  }

  private async cancel(caller: Caller | undefined): Promise<DowngradeResponse> {
    await this.d.readBarrier();
    if (this.d.info()?.enabled !== true) throw Errors.downgradeNoInflight();
    await this.d.propose({ enabled: false, ver: '' }, caller);
    return this.response();
  }

  /** etcd answers with its cluster version as go-semver prints it: "3.5.0". */
  private response(): DowngradeResponse {
    return { version: versionText(this.clusterVersion) };
  }
}
