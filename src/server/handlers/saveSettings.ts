/**
 * `save_settings`: replaces `bistro_settings`, validated as `bistro validate`
 * would (an invalid one is a 400 and changes nothing). The settings decide
 * the default command and containment of every job, so this needs
 * `--api-allow-command`.
 */
import { ConfigError } from '../../config/issues.js';
import type { Handler } from '../apiContext.js';
import { ApiError } from '../apiErrors.js';
import { configWrite } from './configWrite.js';

export const saveSettings: Handler<'save_settings'> = async ({ settings }, context, { actor }) => {
  if (!context.allowCommand)
    throw new ApiError('save_settings needs a scheduler started with --api-allow-command', 403);
  try {
    await configWrite(() => context.configWriter.saveSettings(settings, { actor }));
  } catch (error) {
    if (error instanceof ConfigError) throw new ApiError(error.message);
    throw error;
  }
  return 'saved';
};
