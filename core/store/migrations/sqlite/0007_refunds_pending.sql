-- The refund sweeper's work list: refunds still pending, the longest unchanged first.
CREATE INDEX refunds_pending ON refunds (updated_at, id) WHERE status = 'pending';
