/**
 * Embedded benchmark v2: the paper's two settings as three disjoint corpora from one seed —
 * prior (AID-like, labelled, no captions), coarse (RS5M-like, one noisy caption, other words),
 * fine (RSITMD-like, five fine captions, a test split sized for paired 1-mR differences).
 * v1 (`../index.ts`) stays the default and is unchanged. See README "Embedded benchmark v2".
 */
export * from './config';
export * from './classes';
export * from './vocabulary';
export * from './cells';
export * from './generate';
export * from './sizing';
export * from './check';
