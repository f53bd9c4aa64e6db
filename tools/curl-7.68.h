/*
 * Included first by a build with CURL_AS=7.68 (see the Makefile): curl's
 * headers, then every name of theirs that libcurl added after 7.68 and that
 * csrc/http.c uses or could be tempted to, poisoned, so that only code
 * behind the module's version gates (CURL_HAS) could have named one. The
 * module itself then builds with CLARIFAI_CURL_AS=0x074400: as it would
 * against 7.68's headers. (curl's own macros, defined before the poison,
 * may still name them.)
 */
#include <curl/curl.h>

/* 7.69 .. 7.77 */
#pragma GCC poison CURLE_QUIC_CONNECT_ERROR CURLE_PROXY CURLINFO_PROXY_ERROR CURLOPT_SSL_EC_CURVES
#pragma GCC poison CURLINFO_EFFECTIVE_METHOD CURLOPT_HSTS CURLOPT_AWS_SIGV4 CURLINFO_REFERER
#pragma GCC poison CURLOPT_DOH_SSL_VERIFYPEER CURLE_SSL_CLIENTCERT CURLOPT_CAINFO_BLOB
/* 7.80 .. 7.87 (two of them macros: gone first, then poisoned) */
#undef CURL_PREREQFUNC_OK
#undef CURL_PREREQFUNC_ABORT
#pragma GCC poison CURLOPT_PREREQFUNCTION CURLOPT_PREREQDATA CURL_PREREQFUNC_OK CURL_PREREQFUNC_ABORT
#pragma GCC poison CURLOPT_MAXLIFETIME_CONN CURLOPT_MIME_OPTIONS curl_easy_header curl_easy_nextheader
#pragma GCC poison CURLE_UNRECOVERABLE_POLL CURLINFO_CAINFO CURLINFO_CAPATH CURLOPT_SSH_HOSTKEYFUNCTION
#pragma GCC poison CURLOPT_PROTOCOLS_STR CURLOPT_REDIR_PROTOCOLS_STR CURLOPT_WS_OPTIONS
#pragma GCC poison CURLOPT_CA_CACHE_TIMEOUT CURLOPT_QUICK_EXIT
