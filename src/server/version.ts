// The versions a member reports. Clients and Kubernetes gate features on the server version, so
// we report the etcd release line whose API we serve.
export const ETCD_VERSION = '3.5.17';
export const CLUSTER_VERSION = '3.5.0';
export const ETCD_TS_VERSION = '0.1.0';
