/** File inputs of prompt records: globbing, reading under a guard, file identity, content parts, uploads, answers written beside. */
export { globFiles } from './glob.js';
