"""The allow-list of functions a governed query may call.

Only pure functions (their result depends on their arguments only) are allowed: scalar,
aggregate and window functions over math, strings, dates, lists, structs, maps and JSON text.
``error(msg)`` is allowed too: the governed scan is a security barrier, so it can only ever
fire on rows the principal may see. Everything else is refused, notably functions that read
files or settings (``read_csv``, ``glob``, ``getenv``, ``current_setting``), report on the
session or catalog (``current_user``, ``current_database``, ``version``, ``stats``,
``duckdb_*``), or are not repeatable (``random``, ``now``, ``uuid``, ``nextval``).

sqlglot parses a call either into a typed expression (``SUM(x)`` -> :class:`exp.Sum`) or
into :class:`exp.Anonymous` carrying the name as written. :data:`ALLOWED_FUNCTIONS` lists the
DuckDB names; :data:`ALLOWED_EXPRESSIONS` lists the typed sqlglot classes those names (and SQL
syntax such as ``CASE`` or ``CAST``) parse into. ``tests/query/test_functions.py`` checks both
lists against DuckDB's own function catalog: every allowed name is a pure non-table function,
and every DuckDB function off the list is refused.
"""

from __future__ import annotations

from sqlglot import exp

__all__ = [
    "ALLOWED_EXPRESSIONS",
    "ALLOWED_FUNCTIONS",
    "ALLOWED_TABLE_FUNCTIONS",
    "function_name",
    "is_allowed_function",
]


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


_AGGREGATE = _names(
    """
    any_value approx_count_distinct approx_quantile approx_top_k arbitrary arg_max arg_max_null
    arg_max_nulls_last arg_min arg_min_null arg_min_nulls_last argmax argmin array_agg avg
    bit_and bit_or bit_xor bitstring_agg bool_and bool_or corr count count_if countif covar_pop
    covar_samp entropy favg first fsum geomean geometric_mean group_concat histogram
    histogram_exact json_group_array json_group_object json_group_structure kahan_sum kurtosis
    kurtosis_pop last list listagg mad max max_by mean median min min_by mode product quantile
    quantile_cont quantile_disc regr_avgx regr_avgy regr_count regr_intercept regr_r2 regr_slope
    regr_sxx regr_sxy regr_syy reservoir_quantile sem skewness stddev stddev_pop stddev_samp
    string_agg sum sumkahan var_pop var_samp variance wavg weighted_avg
    """
)

_WINDOW = _names(
    """
    cume_dist dense_rank fill first_value lag last_value lead nth_value ntile percent_rank rank
    rank_dense row_number
    """
)

_MATH = _names(
    """
    abs acos acosh add asin asinh atan atan2 atanh bit_count cbrt ceil ceiling cos cosh cot
    degrees divide equi_width_bins even exp factorial fdiv floor fmod gamma gcd greatest
    greatest_common_divisor hash isfinite isinf isnan lcm least least_common_multiple lgamma ln
    log log10 log2 multiply nextafter pi pow power radians round round_even roundbankers sign
    signbit sin sinh sqrt subtract tan tanh trunc mod xor
    """
)

_STRING = _names(
    """
    ascii bar base64 bin bit_length bit_position bitstring char_length character_length chr
    concat concat_ws contains damerau_levenshtein decode editdist3 encode ends_with format
    format_bytes formatreadabledecimalsize formatreadablesize from_base64 from_binary from_hex
    get_bit hamming hex if ilike_escape instr jaccard jaro_similarity jaro_winkler_similarity
    lcase left left_grapheme len length length_grapheme levenshtein like_escape lower lpad
    ltrim md5 md5_number md5_number_lower md5_number_upper mismatches nfc_normalize
    not_ilike_escape not_like_escape nullif octet_length ord overlay parse_formatted_bytes
    position prefix printf regexp_escape regexp_extract regexp_extract_all regexp_full_match
    regexp_matches regexp_replace regexp_split_to_array repeat replace reverse right
    right_grapheme rpad rtrim set_bit sha1 sha256 split split_part starts_with str_split
    str_split_regex string_split string_split_regex string_to_array strip_accents strlen strpos
    substr substring substring_grapheme suffix to_base to_base64 to_binary to_hex translate trim
    ucase unbin unhex unicode upper url_decode url_encode
    """
)

_DATE = _names(
    """
    age century date_add date_diff date_part date_sub date_trunc datediff datepart datesub
    datetrunc day dayname dayofmonth dayofweek dayofyear days_in_month decade epoch epoch_ms
    epoch_ns epoch_us era hour isodow isoyear julian last_day make_date make_time make_timestamp
    make_timestamp_ms make_timestamp_ns make_timestamptz microsecond millennium millisecond
    minute month monthname nanosecond normalized_interval quarter second strftime strptime
    time_bucket timezone timezone_hour timezone_minute to_centuries to_days to_decades to_hours
    to_microseconds to_millennia to_milliseconds to_minutes to_months to_quarters to_seconds
    to_timestamp to_weeks to_years try_strptime week weekday weekofyear year yearweek
    """
)

_NESTED = _names(
    """
    aggregate array_aggr array_aggregate array_append array_apply array_cat array_concat
    array_contains array_cosine_distance array_cosine_similarity array_cross_product
    array_distance array_distinct array_dot_product array_extract array_filter array_grade_up
    array_has array_has_all array_has_any array_indexof array_inner_product array_intersect
    array_length array_negative_dot_product array_negative_inner_product array_pop_back
    array_pop_front array_position array_prepend array_push_back array_push_front array_reduce
    array_resize array_reverse array_reverse_sort array_select array_slice array_sort
    array_to_string array_transform array_unique array_value array_where array_zip cardinality
    element_at enum_code enum_first enum_last enum_range enum_range_boundary filter flatten
    generate_series grade_up list_aggr list_aggregate list_any_value list_append list_apply
    list_approx_count_distinct list_avg list_bit_and list_bit_or list_bit_xor list_bool_and
    list_bool_or list_cat list_concat list_contains list_cosine_distance list_cosine_similarity
    list_count list_distance list_distinct list_dot_product list_element list_entropy
    list_extract list_filter list_first list_grade_up list_has list_has_all list_has_any
    list_histogram list_indexof list_inner_product list_intersect list_kurtosis
    list_kurtosis_pop list_last list_mad list_max list_median list_min list_mode
    list_negative_dot_product list_negative_inner_product list_pack list_position list_prepend
    list_product list_reduce list_resize list_reverse list_reverse_sort list_select list_sem
    list_skewness list_slice list_sort list_stddev_pop list_stddev_samp list_string_agg list_sum
    list_transform list_unique list_value list_var_pop list_var_samp list_where list_zip map
    map_concat map_contains map_contains_entry map_contains_value map_entries map_extract
    map_extract_value map_from_entries map_keys map_values range reduce row row_to_json
    struct_concat struct_contains struct_extract struct_extract_at struct_has struct_indexof
    struct_insert struct_keys struct_pack struct_position struct_update struct_values
    union_extract union_tag union_value unnest
    """
)

_JSON = _names(
    """
    array_to_json from_json from_json_strict json json_array json_array_length json_contains
    json_exists json_extract json_extract_path json_extract_path_text json_extract_string
    json_keys json_merge_patch json_object json_pretty json_quote json_structure json_transform
    json_transform_strict json_type json_valid json_value to_json
    """
)

_MISC = _names("coalesce error ifnull typeof uuid_extract_timestamp uuid_extract_version")

#: DuckDB function names (lower case) a governed query may call.
ALLOWED_FUNCTIONS: frozenset[str] = (
    _AGGREGATE | _WINDOW | _MATH | _STRING | _DATE | _NESTED | _JSON | _MISC
)

#: Functions allowed in FROM (set-returning, pure): ``range``, ``generate_series``, ``unnest``.
ALLOWED_TABLE_FUNCTIONS: tuple[type[exp.Expr], ...] = (
    exp.GenerateSeries,
    exp.ExplodingGenerateSeries,
    exp.Unnest,
)

_TYPED = """
    Abs Acos Acosh And AnyValue ApproxDistinct ApproxQuantile ApproxTopK ArgMax ArgMin Array
    ArrayAgg ArrayAppend ArrayConcat ArrayContainedBy ArrayContains ArrayContainsAll
    ArrayDistinct ArrayFilter ArrayIntersect ArrayMax ArrayMin ArrayOverlaps ArrayPosition
    ArrayPrepend ArrayReverse ArraySize ArraySlice ArraySort ArrayToString Ascii Asin Asinh Atan
    Atan2 Atanh Avg BitLength BitwiseAndAgg BitwiseOrAgg BitwiseXorAgg Case Cast Cbrt Ceil Chr
    Coalesce Collate Columns Concat ConcatWs Contains Corr Cos Cosh CosineDistance Cot Count
    CountIf CovarPop CovarSamp CumeDist DateAdd DateBin DateDiff DateFromParts Day DayOfMonth
    DayOfWeek DayOfWeekIso DayOfYear Dayname Decode Degrees DenseRank Encode EndsWith
    EuclideanDistance Exists Exp Explode ExplodingGenerateSeries Extract Factorial First
    FirstValue Flatten Floor Format FromBase64 FromJson GenerateSeries Getbit Greatest
    GroupConcat Hex Hour If IsInf IsNan JSONArray JSONExtract JSONExtractScalar JSONKeys
    JSONObject JSONType JarowinklerSimilarity Kurtosis Lag Last LastDay LastValue Lead Least
    Left Length Levenshtein Ln Log LogicalAnd LogicalOr Lower MD5 Map MapFromEntries MapKeys
    Max Median Min Minute Mode Month Monthname NthValue Ntile Nullif Or Overlay Pad ParseJSON
    PercentRank PercentileCont PercentileDisc Pi Pow Quantile Quarter Radians Rank Reduce
    RegexpExtract RegexpExtractAll RegexpFullMatch RegexpILike RegexpLike RegexpReplace
    RegexpSplit RegrAvgx RegrAvgy RegrCount RegrIntercept RegrR2 RegrSlope RegrSxx RegrSxy
    RegrSyy Repeat Replace Reverse Right Round RowNumber SHA SHA2 Second Sign Sin Sinh Skewness
    Split SplitPart Sqrt StartsWith Stddev StddevPop StddevSamp StrPosition StrToTime Struct
    StructExtract Substring Sum Tan Tanh TimeFromParts TimeToStr TimeToUnix TimestampFromParts
    TimestampTrunc ToBase64 ToBinary ToDays ToMap Transform Translate Trim Trunc TryCast Typeof
    Unhex Unicode Unnest UnixToTime Upper VarMap Variance VariancePop Week WeekOfYear Xor Year
    """

#: Typed sqlglot function classes a governed query may contain (including SQL syntax such as
#: ``CASE``, ``CAST``, ``EXTRACT``, ``EXISTS``, ``[...]`` and ``{...}`` that sqlglot models as
#: functions). :class:`exp.Anonymous` is checked by name against :data:`ALLOWED_FUNCTIONS`.
ALLOWED_EXPRESSIONS: frozenset[type[exp.Expr]] = frozenset(
    getattr(exp, name) for name in _TYPED.split()
)


def function_name(node: exp.Func) -> str:
    """The name to show for a function call in an error message.

    >>> from sqlglot import parse_one
    >>> function_name(parse_one("SELECT getenv('HOME')", read="duckdb").expressions[0])
    'getenv'
    >>> function_name(parse_one("SELECT upper(x)", read="duckdb").expressions[0])
    'upper'
    """
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    return node.sql_name().lower()


def is_allowed_function(node: exp.Func) -> bool:
    """True when a function call may appear in a governed query.

    Args:
        node: any sqlglot function expression.

    Returns:
        For :class:`exp.Anonymous`, whether its name is on :data:`ALLOWED_FUNCTIONS`;
        for a typed function, whether its class is on :data:`ALLOWED_EXPRESSIONS`.

    >>> from sqlglot import parse_one
    >>> is_allowed_function(parse_one("SELECT read_csv('x')", read="duckdb").expressions[0])
    False
    >>> is_allowed_function(parse_one("SELECT list_sum([1])", read="duckdb").expressions[0])
    True
    """
    if isinstance(node, exp.Anonymous):
        return isinstance(node.this, str) and node.this.lower() in ALLOWED_FUNCTIONS
    return type(node) in ALLOWED_EXPRESSIONS
