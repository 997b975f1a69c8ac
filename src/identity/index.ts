/** Row identity: canonical request -> sha256. Used by resume, the response cache and the Batch backend's `custom_id`. */
export {
  canonicalJson,
  IDENTITY_PATTERN,
  namespaceOf,
  type RequestIdentity,
  rowIdentity,
} from './row-identity.js';
