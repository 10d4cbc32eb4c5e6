// libpcsclite as Swift sees it, plus what Swift cannot import from its macros.
// Every helper carries the `onecard_pcsc_` prefix. Only OneCardPCSC imports this module.
#ifndef ONECARD_CPCSCLITE_SHIM_H
#define ONECARD_CPCSCLITE_SHIM_H
#include <PCSC/winscard.h>
#include <PCSC/reader.h>
#include <PCSC/pcsclite.h>

/// SCARD_PCI_T0: the protocol control information for T=0 (an address-of macro).
static inline const SCARD_IO_REQUEST *onecard_pcsc_pci_t0(void) { return SCARD_PCI_T0; }
/// SCARD_PCI_T1: the protocol control information for T=1.
static inline const SCARD_IO_REQUEST *onecard_pcsc_pci_t1(void) { return SCARD_PCI_T1; }
/// SCARD_PCI_RAW: the protocol control information for raw transfers.
static inline const SCARD_IO_REQUEST *onecard_pcsc_pci_raw(void) { return SCARD_PCI_RAW; }
/// SCARD_AUTOALLOCATE: ask the library to allocate an out buffer (free with SCardFreeMemory).
static inline DWORD onecard_pcsc_autoallocate(void) { return SCARD_AUTOALLOCATE; }
/// MAX_BUFFER_SIZE: the largest short APDU response (258 bytes).
static inline DWORD onecard_pcsc_max_buffer_size(void) { return MAX_BUFFER_SIZE; }
/// MAX_BUFFER_SIZE_EXTENDED: the largest extended APDU exchange (65 548 bytes).
static inline DWORD onecard_pcsc_max_buffer_size_extended(void) { return MAX_BUFFER_SIZE_EXTENDED; }
/// MAX_ATR_SIZE: 33 bytes.
static inline DWORD onecard_pcsc_max_atr_size(void) { return MAX_ATR_SIZE; }
/// INFINITE: the "wait forever" timeout of SCardGetStatusChange.
static inline DWORD onecard_pcsc_infinite(void) { return INFINITE; }
/// SCARD_ATTR_VENDOR_NAME (reader vendor, a string).
static inline DWORD onecard_pcsc_attr_vendor_name(void) { return SCARD_ATTR_VENDOR_NAME; }
/// SCARD_ATTR_VENDOR_IFD_VERSION (reader firmware version, a DWORD).
static inline DWORD onecard_pcsc_attr_vendor_ifd_version(void) { return SCARD_ATTR_VENDOR_IFD_VERSION; }
/// SCARD_ATTR_ATR_STRING (the card's ATR).
static inline DWORD onecard_pcsc_attr_atr_string(void) { return SCARD_ATTR_ATR_STRING; }
/// SCARD_ATTR_MAXINPUT (the reader's largest APDU, extended readers report > 261).
static inline DWORD onecard_pcsc_attr_maxinput(void) { return SCARD_ATTR_MAXINPUT; }
/// SCARD_CTL_CODE(code): a reader control code for SCardControl.
static inline DWORD onecard_pcsc_ctl_code(DWORD code) { return SCARD_CTL_CODE(code); }
/// CM_IOCTL_GET_FEATURE_REQUEST: PC/SC part 10 feature discovery.
static inline DWORD onecard_pcsc_ctl_get_feature_request(void) { return CM_IOCTL_GET_FEATURE_REQUEST; }
#endif
