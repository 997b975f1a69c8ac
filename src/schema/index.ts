/** Structured outputs: schema normalisation and validation, re-ask turns, finish-reason codes (a leaf). */
export {
  type AnswerCheck,
  type AnswerText,
  answerText,
  checkAnswer,
  checkText,
  type SchemaEndpoint,
} from './answer.js';
export { compileJsonSchema, type Validation } from './compile.js';
export { ownJsonSchema, reaskBody, reaskMessage, takesSchema, withSchema } from './request.js';
export {
  jsonSchema,
  type OutputSchema,
  prepareSchema,
  type SchemaInput,
  schemaName,
  type ZodLike,
} from './schema.js';
