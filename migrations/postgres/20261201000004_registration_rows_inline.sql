-- A registration row is about 5 kB (the SSA, about 1.7 kB, and the metadata, about 3 kB, both
-- base64 and JSON that pglz does not shrink). Past the default 2 kB, PostgreSQL tried to
-- compress both on every insert and, failing, moved them into the TOAST table (a second heap
-- insert and an index insert): measured, a sixth of PostgreSQL's CPU per registration for no
-- saving. Rows now stay whole in their page up to its size; larger ones are still toasted.
ALTER TABLE registration SET (toast_tuple_target = 8160);
