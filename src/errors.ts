/** Thrown for failures no retry can fix: the job fails at once, with this message shown to the merchant. */
export class PermanentJobError extends Error {
  readonly code: string;
  constructor(message: string, code = 'PERMANENT') {
    super(message);
    this.name = 'PermanentJobError';
    this.code = code;
  }
}
