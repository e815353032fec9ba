/** A config change through the API: a database out of reach is a 503 to retry, not a 500. */
import { isConnectionError } from '../../store/postgres/connection.js';
import { ApiError } from '../apiErrors.js';

export async function configWrite<T>(write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (!(error instanceof ApiError) && isConnectionError(error)) {
      throw new ApiError(
        `the config was not changed: the database is out of reach (${(error as Error).message}); retry`,
        503,
      );
    }
    throw error;
  }
}
