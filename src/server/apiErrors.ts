/**
 * The REST API's errors. Each carries the HTTP status the request answers
 * with; the query's `error` text is the message (the original's clients read
 * it from the envelope).
 */
export class ApiError extends Error {
  constructor(
    message: string,
    /** 400 a bad argument, 404 an unknown job or task, 503 the scheduler could not answer. */
    readonly status = 400,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Something named in the request does not exist. */
export class NotFoundError extends ApiError {
  constructor(message: string) {
    super(message, 404);
    this.name = 'NotFoundError';
  }
}
