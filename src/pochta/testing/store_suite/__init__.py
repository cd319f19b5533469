"""The store conformance suite: one set of tests every backend must pass.

A backend binds it in its own test module by providing two fixtures and star-importing this module:

- ``store_factory``: an async callable returning a *new handle* on one fresh backing store per test
  (same data directory / database each call within a test; the binding closes what it opened);
- ``backdoor``: a ``StoreBackdoor`` for what only the backend can do (damage counters and caches
  behind the store's back, find a blob's file).

The tests talk to the store through ``pochta.store.api`` only, so a PostgreSQL backend reuses them
unchanged (``tests/unit/store/test_sqlite_store.py`` is the SQLite binding).

The tests live in one module per concept (``acl``, ``directory``, ``dkim`` keys, ``inline`` blobs,
``mailboxes``, ``messages``, ``maintenance``, ``metadata``, ``objects``, ``queue``, ``quota`` with
session locks, ``search``, ``sieve`` scripts, ``sortkeys``, ``transport`` security, JMAP ``uploads``, webmail
``web_sessions``, ``wire``;
``support`` holds the fixtures and helpers they share). This package star-imports every one of
them, so each ``test_*`` defined in any lands here, and the binding's check that every suite test
is listed in ``__all__`` keeps covering all of them.
"""

# The star imports are the point (see above); the names in __all__ come from them.
# ruff: noqa: F403, F405

from __future__ import annotations

from pochta.testing.store_suite.account_state import *
from pochta.testing.store_suite.acl import *
from pochta.testing.store_suite.directory import *
from pochta.testing.store_suite.dkim import *
from pochta.testing.store_suite.inline import *
from pochta.testing.store_suite.jmap_records import *
from pochta.testing.store_suite.mailboxes import *
from pochta.testing.store_suite.maintenance import *
from pochta.testing.store_suite.messages import *
from pochta.testing.store_suite.metadata import *
from pochta.testing.store_suite.objects import *
from pochta.testing.store_suite.queue import *
from pochta.testing.store_suite.quota import *
from pochta.testing.store_suite.search import *
from pochta.testing.store_suite.sieve import *
from pochta.testing.store_suite.sieve_state import *
from pochta.testing.store_suite.sortkeys import *
from pochta.testing.store_suite.support import *
from pochta.testing.store_suite.transport import *
from pochta.testing.store_suite.units import *
from pochta.testing.store_suite.uploads import *
from pochta.testing.store_suite.web_sessions import *
from pochta.testing.store_suite.wire import *

__all__ = [
    "StoreBackdoor",
    "StoreFactory",
    "store",
    "test_a_units_change_switching_pop3_on_records_when",
    "test_account_crud_case_insensitive",
    "test_account_emails_carry_mailboxes_keywords_and_the_earliest_date",
    "test_account_modseqs_increase_across_mailboxes",
    "test_account_needs_domain",
    "test_account_settings_are_typed_and_removable",
    "test_acl_entries_and_shared_mailboxes",
    "test_aliases_and_catch_all",
    "test_an_accounts_own_quota_wins_over_its_units",
    "test_app_password_found_by_lookup_digest_of_its_own_account_only",
    "test_app_passwords",
    "test_cached_parse_results",
    "test_changes_since_reports_flags_and_expunges",
    "test_concurrent_deliveries_get_distinct_uids",
    "test_copies_are_recent_in_their_new_mailbox",
    "test_copy_preserves_flags_and_dates",
    "test_default_mailboxes",
    "test_delete_account_releases_messages",
    "test_delete_and_recreate_gives_new_uidvalidity",
    "test_delete_domain_with_accounts_or_aliases_conflicts",
    "test_deleting_an_account_takes_its_settings",
    "test_deliver_is_all_or_nothing",
    "test_deliver_single_instance",
    "test_dkim_keys_per_domain_and_selector",
    "test_dkim_state_changes_are_one_write",
    "test_domain_crud",
    "test_domain_usage_follows_every_change",
    "test_email_changes_follow_each_mail_write",
    "test_email_changes_leave_out_what_came_and_went_since",
    "test_email_changes_page_inside_one_writes_group",
    "test_email_records_are_the_accounts_own",
    "test_emails_by_received_pages_a_mailbox",
    "test_expunge_deleted_chooses_in_the_write",
    "test_expunge_of_every_message",
    "test_expunge_records_and_uids_never_reused",
    "test_feed_after_commit_to_right_subscriber_only",
    "test_feed_mailbox_events_and_close",
    "test_flag_operations_and_modseq",
    "test_index_claims_across_handles_are_disjoint",
    "test_index_drops_expunged_messages",
    "test_inline_blob_collected_once_unreferenced_and_not_before",
    "test_inline_blob_stored_by_its_delivery_and_read_back",
    "test_inline_blobs_are_single_instance",
    "test_inline_blobs_readable_after_the_threshold_changes",
    "test_inline_blobs_seen_by_verify_and_reconstruct",
    "test_invalid_arguments",
    "test_jmap_records_keep_a_state_and_tombstones_per_account_and_type",
    "test_keyword_list_is_bounded_by_every_write",
    "test_keyword_list_keeps_every_keyword_stored",
    "test_large_new_blob_is_a_file",
    "test_login_unblocks",
    "test_mailbox_changes_follow_the_tree_and_the_counts",
    "test_mailbox_counts_count_emails_and_threads",
    "test_mailbox_create_get",
    "test_mailbox_sort_order_is_a_mailbox_change",
    "test_message_and_domain_quotas_refuse_what_does_not_fit",
    "test_metadata_account_limits_count_private_and_owned_shared_entries",
    "test_metadata_changes_name_their_entries_to_who_may_read_them",
    "test_metadata_follows_rename_and_goes_with_mailbox_and_account",
    "test_metadata_private_per_user_shared_per_mailbox",
    "test_metadata_refused_write_changes_nothing",
    "test_move_is_copy_plus_expunge",
    "test_mta_sts_policy_cache_replaces_per_domain",
    "test_nul_decoded_from_headers_is_left_out_of_search_and_sort_rows",
    "test_open_blob_and_put_blob_file",
    "test_open_view_columns_and_lookup",
    "test_open_view_snapshot",
    "test_pruned_records_cannot_answer_older_states",
    "test_queue_claims_across_handles_are_disjoint",
    "test_queue_deferral_failure_and_notices",
    "test_queue_enqueue_and_read_back",
    "test_queue_keeps_the_requiretls_flag",
    "test_queue_lease_is_exclusive_until_it_expires",
    "test_queue_needs_a_stored_blob_and_recipients",
    "test_queue_retry_and_delete",
    "test_queued_blobs_are_referenced",
    "test_quota_of_copy_and_move",
    "test_quota_race_between_handles",
    "test_quota_race_stores_exactly_what_fits",
    "test_quota_refusal_is_all_or_nothing_per_call",
    "test_quota_usage_counts_every_membership",
    "test_read_blob_whole_and_missing",
    "test_read_directory_errors_propagate",
    "test_read_directory_is_one_snapshot",
    "test_read_directory_lookups",
    "test_recent_is_taken_once",
    "test_reconstruct_dry_run_changes_nothing",
    "test_reconstruct_rebuilds_the_index",
    "test_reconstruct_repairs_the_account_state",
    "test_reconstruct_restores_tampered_values",
    "test_recorded_setting_is_read_back",
    "test_rename_with_children_keeps_uidvalidity",
    "test_save_date_of_every_write",
    "test_search_header_fields",
    "test_search_is_exact_before_and_after_indexing",
    "test_search_text",
    "test_search_text_hostile_input",
    "test_second_handle_sees_writes",
    "test_settings_changes_move_the_directory_version",
    "test_sieve_duplicates_expire_and_last_moves_the_expiry",
    "test_sieve_errors_newest_kept_and_pruned",
    "test_sieve_one_active_script_per_account",
    "test_sieve_quota_is_checked_in_the_write",
    "test_sieve_rename_and_delete_rules",
    "test_sieve_scripts_per_account_and_replaced_in_place",
    "test_sieve_vacation_once_per_period",
    "test_sort_keys_derived_kept_and_forgotten",
    "test_sort_order_is_the_order_of_the_keys",
    "test_subscriptions",
    "test_switching_pop3_back_on_records_when",
    "test_thread_now_threads_what_the_indexer_has_not",
    "test_threads_follow_references_per_account",
    "test_threads_of_changed_emails",
    "test_tls_results_count_per_day_and_row",
    "test_try_lock_is_exclusive_until_released",
    "test_unchanged_since",
    "test_unit_cycles_and_deletes_are_refused",
    "test_unit_quota_is_inherited_and_enforced",
    "test_units_list_as_a_tree_with_members",
    "test_units_nest_and_settings_inherit",
    "test_update_account",
    "test_uploads_are_kept_per_account_and_pruned",
    "test_usage_matches_the_mailboxes_after_random_changes",
    "test_verify_detects_damage",
    "test_web_sessions_are_kept_touched_and_ended",
    "test_web_sessions_are_pruned_and_go_with_their_account",
    "test_web_sessions_past_the_limit_end_the_least_recently_seen",
    "test_wire_forms_kept_at_delivery",
    "test_write_errors_on_missing_mailbox",
    "test_write_results_carry_the_new_entries",
]
