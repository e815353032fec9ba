/**
 * `leader`: this scheduler's role, as `refresh_time` is its pass clock:
 * `leader` or `standby` on a shared database (with the term and who leads),
 * `embedded` for a scheduler on its own SQLite files (it always leads).
 */
import type { Handler } from '../apiContext.js';

export const leader: Handler<'leader'> = (_args, context) => {
  const role = context.leadership();
  if (!role) return { role: 'embedded', term: null, leader: null, leader_api_url: null };
  return {
    role: role.leads ? 'leader' : 'standby',
    term: role.term ?? null,
    leader: role.leader?.name ?? null,
    leader_api_url: role.leader?.apiUrl ?? null,
  };
};
