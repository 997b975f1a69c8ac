/**
 * The model list (`/v1/models`).
 */

/** A fixed creation time so model objects are deterministic. */
const MODEL_CREATED = 1_686_935_002;

export function modelObject(id: string) {
  return { id, object: 'model', created: MODEL_CREATED, owned_by: 'system' };
}

export function modelList(models: readonly string[]) {
  return { object: 'list', data: models.map(modelObject) };
}
