"""Shared Qt pieces of the "see and steer the sync" windows (report, queue, local items,
field mapping): a paged table model that loads its pages in workers."""
